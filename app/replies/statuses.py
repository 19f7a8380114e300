"""Providers' delivery statuses applied to our outbound messages, each in its own
transaction: the message is locked, the transition ranked (outbound.statuses) and
recorded with its events (app.replies.status). A status for a message we do not
know is logged and ignored, so the provider, answered 200, does not retry it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import structlog

from app.db import Database
from app.events import EventConfig
from app.ingest import effective_sent_at
from app.replies.status import record_status
from app.repositories.replies import OutboundRow, Replies
from connectors.model import StatusUpdate
from outbound.model import Status

log = structlog.get_logger(__name__)


class Applied(StrEnum):
    """What one update came to (a metrics label)."""

    changed = "changed"  # at least one message moved to a new status
    unchanged = "unchanged"  # a duplicate, or ranked below what is recorded
    unknown_message = "unknown_message"


async def apply(
    db: Database,
    events: EventConfig,
    updates: tuple[StatusUpdate, ...],
    received_at: datetime,
) -> list[Applied]:
    """Apply each update in order; what each came to."""
    return [await _apply_one(db, events, update, received_at) for update in updates]


async def _apply_one(
    db: Database, events: EventConfig, update: StatusUpdate, received_at: datetime
) -> Applied:
    at = effective_sent_at(update.at, received_at)
    async with db.transaction() as conn:
        rows = await _lock(Replies(conn), update)
        changed = [
            await record_status(
                conn,
                events,
                row,
                Status(update.status.value),
                at,
                error_code=update.error_code,
                error=update.error,
                # Fills in the id of a send whose answer we never had (Mailgun,
                # found by our own id); an id we hold is never replaced.
                provider_message_id=None
                if row.provider_message_id
                else update.provider_message_id,
            )
            for row in rows
        ]
    if not rows:
        log.info(
            "webhook.status_unknown_message",
            provider=update.provider,
            provider_message_id=update.provider_message_id,
            message_id=update.message_id,
            recipient=update.recipient,
            status=update.status.value,
        )
        return Applied.unknown_message
    return Applied.changed if any(changed) else Applied.unchanged


async def _lock(replies: Replies, update: StatusUpdate) -> list[OutboundRow]:
    """The outbound messages the update names, locked; [] when none is ours."""
    ours = await _lock_ours(replies, update)
    if ours is not None:
        return [ours]
    if update.provider_message_id is not None:
        row = await replies.lock_by_provider_id(
            update.provider, update.provider_message_id
        )
        return [row] if row is not None else []
    if update.recipient is not None and update.watermark is not None:
        return await replies.lock_up_to_watermark(
            update.provider, update.recipient, update.watermark
        )
    return []


async def _lock_ours(replies: Replies, update: StatusUpdate) -> OutboundRow | None:
    """By our own message id, when the provider echoed it back and it is its send."""
    if update.message_id is None:
        return None
    try:
        message_id = uuid.UUID(update.message_id)
    except ValueError:
        return None
    row = await replies.lock(message_id)
    return row if row is not None and row.provider == update.provider else None
