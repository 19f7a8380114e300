"""Development tooling: embedded brokers, demo, event tail, signed webhook payloads."""
