"""What agent desktops do through `/v1`: read customers, conversations and timelines,
edit and merge customers, close conversations. Each function owns its transaction."""
