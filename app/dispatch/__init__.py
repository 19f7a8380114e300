"""Replies out: the one active dispatcher per database claims queued sends, calls the
provider, and records what came of it (sent, failed, retry later, or unknown)."""
