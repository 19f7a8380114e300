"""Agents answer on the customer's channel: accept a reply (idempotent, within the
channel's window), retry one whose outcome is unknown, record delivery statuses."""
