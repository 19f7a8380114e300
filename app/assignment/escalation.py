"""A follow-up that routes the conversation to another queue: it waits there."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from app.assignment.effects import Effects
from app.assignment.moves import requeue
from app.events import EventConfig
from routing.model import Decision


async def after_decision(
    conn: asyncpg.Connection,
    config: EventConfig,
    conversation_id: uuid.UUID,
    decision: Decision,
    now: datetime,
) -> None:
    """In the message's transaction: a queue change takes it from its agent."""
    if decision.new_conversation or decision.previous_queue in (None, decision.queue):
        return
    fx = Effects(config)
    reason = f"routed from {decision.previous_queue} to {decision.queue}"
    await requeue(conn, fx, [conversation_id], at=now, reason=reason)
    await fx.flush(conn)
