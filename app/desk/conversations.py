"""Conversation reads, the agent's close action, and the idle sweep."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from app.db import Database
from app.errors import NotFound, Problem
from app.repositories.conversations import Conversations, ConversationView
from app.repositories.decisions import Decisions, DecisionView
from app.repositories.sla_timers import SlaTimers, StoredTimer
from app.sla.timers import SlaContext, after_close, pause_all, resume_all
from app.sla.views import SlaView, sla_view
from routing.model import RuleSet

__all__ = [
    "ConversationNotFound",
    "ConversationNotOpen",
    "ConversationRead",
    "ConversationView",
    "DecisionView",
    "close",
    "decisions",
    "get",
    "listing",
    "set_pending",
    "sweep_idle",
]


class ConversationNotFound(NotFound):
    pass


class ConversationNotOpen(Problem):
    status, title, slug = 409, "Conversation is closed", "conversation-closed"


@dataclass(frozen=True, slots=True)
class ConversationRead:
    """A conversation with its SLA state as of the read."""

    view: ConversationView
    sla: SlaView | None


async def _read(
    conn: asyncpg.Connection, rules: RuleSet, view: ConversationView
) -> ConversationRead:
    timers = await SlaTimers(conn).of(view.id)
    now = datetime.now(UTC)
    return ConversationRead(view, sla_view(rules, view.sla_policy_id, timers, now))


def _found(
    conversation_id: uuid.UUID, view: ConversationView | None
) -> ConversationView:
    if view is None:
        raise ConversationNotFound(f"conversation {conversation_id} does not exist")
    return view


async def get(
    db: Database, conversation_id: uuid.UUID, rules: RuleSet
) -> ConversationRead:
    async with db.connection() as conn:
        view = _found(conversation_id, await Conversations(conn).get(conversation_id))
        return await _read(conn, rules, view)


async def listing(
    db: Database,
    rules: RuleSet,
    *,
    customer_id: uuid.UUID | None,
    status: str | None,
    limit: int,
) -> list[ConversationRead]:
    async with db.connection() as conn:
        found = await Conversations(conn).listing(
            customer_id=customer_id, status=status, limit=limit
        )
        timers = await SlaTimers(conn).of_many([c.id for c in found])
    now = datetime.now(UTC)
    by_conversation: dict[uuid.UUID, list[StoredTimer]] = {}
    for timer in timers:
        by_conversation.setdefault(timer.conversation_id, []).append(timer)
    return [
        ConversationRead(
            c, sla_view(rules, c.sla_policy_id, by_conversation.get(c.id, []), now)
        )
        for c in found
    ]


async def close(
    db: Database, conversation_id: uuid.UUID, sla: SlaContext
) -> ConversationRead:
    """Close by an agent (stopping its SLA timers); closing a closed conversation
    changes nothing."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        conversations = Conversations(conn)
        if await conversations.close(conversation_id, now, "agent"):
            await after_close(conn, sla.rules.rules, sla.events, conversation_id, now)
        view = _found(conversation_id, await conversations.get(conversation_id))
        return await _read(conn, sla.rules.rules, view)


async def set_pending(
    db: Database, conversation_id: uuid.UUID, pending: bool, rules: RuleSet
) -> ConversationRead:
    """Waiting for the customer (every SLA timer paused), or no longer."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        view = await Conversations(conn).get(conversation_id)
        view = _found(conversation_id, view)
        if view.status != "open":
            raise ConversationNotOpen(f"conversation {conversation_id} is closed")
        repo = SlaTimers(conn)
        was = await repo.lock_pending(conversation_id)
        if pending and was is None:
            await repo.set_pending(conversation_id, now)
            await pause_all(conn, rules, conversation_id, now)
        elif not pending and was is not None:
            await repo.set_pending(conversation_id, None)
            await resume_all(conn, rules, conversation_id, now)
        view = _found(conversation_id, await Conversations(conn).get(conversation_id))
        return await _read(conn, rules, view)


async def sweep_idle(db: Database, idle_hours: int, now: datetime) -> int:
    async with db.transaction() as conn:
        return await Conversations(conn).sweep_idle(timedelta(hours=idle_hours), now)


async def decisions(db: Database, conversation_id: uuid.UUID) -> list[DecisionView]:
    """Every routing decision of a conversation, oldest first."""
    async with db.connection() as conn:
        _found(conversation_id, await Conversations(conn).get(conversation_id))
        return await Decisions(conn).of_conversation(conversation_id)
