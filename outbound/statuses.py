"""Delivery statuses arrive out of order and more than once: they never move a message
down (queued < sent < delivered < read; read implies delivered), and a failure after
`sent` is recorded but not after `delivered`."""

from __future__ import annotations

from outbound.model import Status

_RANK = {
    Status.queued: 0,
    Status.unknown: 0,  # a later provider status tells what really happened
    Status.sent: 1,
    Status.delivered: 2,
    Status.read: 3,
}


def advance(current: Status, incoming: Status) -> Status | None:
    """The status after `incoming` arrives, or None when nothing changes."""
    if incoming is current:
        return None
    if incoming is Status.unknown:  # only a send we could not confirm becomes unknown
        return Status.unknown if current is Status.queued else None
    if incoming is Status.failed:
        return (
            Status.failed
            if current in (Status.queued, Status.unknown, Status.sent)
            else None
        )
    if current is Status.failed:
        return None  # a late "sent" after a recorded failure does not undo it
    if _RANK.get(incoming, -1) > _RANK.get(current, -1):
        return incoming
    return None
