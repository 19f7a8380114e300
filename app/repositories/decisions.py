"""Routing decisions as stored (they are written with their message, see messages.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_OF_CONVERSATION = (
    "SELECT id, message_id, conversation_id, customer_id, queue, priority, skills, tags,"
    " language, rule_id, matched_conditions, reason, rules_version, new_conversation,"
    " changed, escalated, previous_queue, previous_priority, decided_at"
    " FROM decisions WHERE conversation_id = $1 ORDER BY decided_at, id"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionView:
    id: uuid.UUID
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    queue: str
    priority: str
    skills: tuple[str, ...]
    tags: tuple[str, ...]
    language: str | None
    rule_id: str | None
    matched_conditions: tuple[str, ...]
    reason: str
    rules_version: str
    new_conversation: bool
    changed: bool
    escalated: bool
    previous_queue: str | None
    previous_priority: str | None
    decided_at: datetime


class Decisions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def of_conversation(self, conversation_id: uuid.UUID) -> list[DecisionView]:
        """Oldest first."""
        rows = await self._conn.fetch(_OF_CONVERSATION, conversation_id)
        return [_view(r) for r in rows]


def _view(row: asyncpg.Record) -> DecisionView:
    values = dict(row)
    for name in ("skills", "tags", "matched_conditions"):
        values[name] = tuple(values[name])
    return DecisionView(**values)
