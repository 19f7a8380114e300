"""A person's decision to send again a reply whose outcome is unknown (or that failed):
nothing re-sends those automatically, because no provider deduplicates sends."""

from __future__ import annotations

import uuid
from datetime import datetime

from app.db import Database
from app.errors import Conflict, NotFound
from app.events import EventConfig, message_status
from app.replies.status import facts_of
from app.repositories.dispatches import Dispatches
from app.repositories.outbox import Outbox
from app.repositories.replies import Replies
from app.repositories.timeline import MessageView, Timeline
from outbound.model import Status

RETRYABLE = (Status.unknown, Status.failed)


class MessageNotFound(NotFound):
    pass


class NotRetryable(Conflict):
    slug = "message-not-retryable"


async def retry(
    db: Database, message_id: uuid.UUID, events: EventConfig, now: datetime
) -> MessageView:
    """Queue the message's send again; 409 unless it ended `unknown` or `failed`."""
    async with db.transaction() as conn:
        replies = Replies(conn)
        row = await replies.lock(message_id)
        if row is None:
            raise MessageNotFound(f"outbound message {message_id} does not exist")
        if row.status not in RETRYABLE:
            raise NotRetryable(
                f"message {message_id} is {row.status}; only unknown or failed"
                " messages are sent again",
                message_status=row.status,
            )
        await replies.set_status(row.id, Status.queued, now)
        await Dispatches(conn).renew(row.id)
        await Outbox(conn).add(
            message_status(
                events, facts_of(row), status=Status.queued, previous=row.status, at=now
            )
        )
        view = await Timeline(conn).message(row.id)
    assert view is not None
    return view
