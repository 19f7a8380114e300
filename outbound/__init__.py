"""Pure outbound messaging: what a reply may be on each channel (windows), how each
provider's send request is built and its answer read, and how delivery statuses rank.
No I/O: app/ sends the requests and stores the outcomes."""
