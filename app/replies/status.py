"""Delivery-status transitions of outbound messages: ranked, stored with their time,
and published through the outbox in the same transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from app.events import EventConfig, OutboundFacts, message_sent, message_status
from app.repositories.outbox import Outbox
from app.repositories.replies import OutboundRow, Replies
from outbound.model import Status
from outbound.statuses import advance

_UNSENT = (Status.queued, Status.unknown)
_ACCEPTED = (Status.sent, Status.delivered, Status.read)


async def record_status(
    conn: asyncpg.Connection,
    events: EventConfig,
    row: OutboundRow,
    incoming: Status,
    at: datetime,
    *,
    error_code: str | None = None,
    error: str | None = None,
    provider_message_id: str | None = None,
) -> Status | None:
    """Apply `incoming` to the locked `row`; the new status, or None if unchanged."""
    previous = Status(row.status)
    new = advance(previous, incoming)
    if new is None:
        return None
    await Replies(conn).set_status(
        row.id,
        new,
        at,
        error_code=error_code,
        error=error,
        provider_message_id=provider_message_id,
    )
    facts = facts_of(row, provider_message_id)
    outbox = Outbox(conn)
    if previous in _UNSENT and new in _ACCEPTED:
        await outbox.add(message_sent(events, facts, at))
    await outbox.add(
        message_status(
            events,
            facts,
            status=new,
            previous=previous,
            at=at,
            error_code=error_code,
            error=error,
        )
    )
    return new


def facts_of(row: OutboundRow, provider_message_id: str | None = None) -> OutboundFacts:
    """What the message's events say about it (a new provider id wins)."""
    return OutboundFacts(
        message_id=row.id,
        conversation_id=row.conversation_id,
        customer_id=row.customer_id,
        channel=row.channel,
        provider=row.provider,
        agent_id=row.agent_id,
        provider_message_id=provider_message_id or row.provider_message_id,
    )
