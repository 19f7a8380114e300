"""Conversation reads, the agent's close action, and the idle sweep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.db import Database
from app.errors import NotFound
from app.repositories.conversations import Conversations, ConversationView
from app.repositories.decisions import Decisions, DecisionView

__all__ = [
    "ConversationNotFound",
    "ConversationView",
    "DecisionView",
    "close",
    "decisions",
    "get",
    "listing",
    "sweep_idle",
]


class ConversationNotFound(NotFound):
    pass


def _found(
    conversation_id: uuid.UUID, view: ConversationView | None
) -> ConversationView:
    if view is None:
        raise ConversationNotFound(f"conversation {conversation_id} does not exist")
    return view


async def get(db: Database, conversation_id: uuid.UUID) -> ConversationView:
    async with db.connection() as conn:
        return _found(conversation_id, await Conversations(conn).get(conversation_id))


async def listing(
    db: Database, *, customer_id: uuid.UUID | None, status: str | None, limit: int
) -> list[ConversationView]:
    async with db.connection() as conn:
        return await Conversations(conn).listing(
            customer_id=customer_id, status=status, limit=limit
        )


async def close(db: Database, conversation_id: uuid.UUID) -> ConversationView:
    """Close by an agent; closing a closed conversation changes nothing."""
    async with db.transaction() as conn:
        conversations = Conversations(conn)
        await conversations.close(conversation_id, datetime.now(UTC), "agent")
        return _found(conversation_id, await conversations.get(conversation_id))


async def sweep_idle(db: Database, idle_hours: int, now: datetime) -> int:
    async with db.transaction() as conn:
        return await Conversations(conn).sweep_idle(timedelta(hours=idle_hours), now)


async def decisions(db: Database, conversation_id: uuid.UUID) -> list[DecisionView]:
    """Every routing decision of a conversation, oldest first."""
    async with db.connection() as conn:
        _found(conversation_id, await Conversations(conn).get(conversation_id))
        return await Decisions(conn).of_conversation(conversation_id)
