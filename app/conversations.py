"""Conversation reads and the agent's close action."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_COLUMNS = (
    "id, customer_id, status, channels, opened_at, closed_at, close_reason,"
    " last_message_at, message_count, queue, priority, skills, tags"
)
_DECISIONS = text(
    "SELECT id, message_id, conversation_id, customer_id, queue, priority, skills, tags,"
    " language, rule_id, matched_conditions, reason, rules_version, new_conversation,"
    " changed, escalated, previous_queue, previous_priority, decided_at"
    " FROM decisions WHERE conversation_id = :id ORDER BY decided_at, id"
)
_ONE = text(f"SELECT {_COLUMNS} FROM conversations WHERE id = :id")
_CLOSE = text(
    "UPDATE conversations SET status = 'closed', closed_at = :now, close_reason = 'agent'"
    " WHERE id = :id AND status = 'open'"
)
# Idle conversations are closed lazily at the next message; this sweep makes the
# API show them closed on time too.
_SWEEP_IDLE = text(
    "UPDATE conversations SET status = 'closed', closed_at = last_message_at + :idle,"
    " close_reason = 'idle' WHERE status = 'open' AND last_message_at + :idle < :now"
)


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    channels: tuple[str, ...]
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    last_message_at: datetime
    message_count: int
    queue: str | None
    priority: str | None
    skills: tuple[str, ...]
    tags: tuple[str, ...]


class ConversationNotFound(Exception):
    pass


def _view(row: object) -> ConversationView:
    values = {f: getattr(row, f) for f in ConversationView.__slots__}
    values["channels"], values["skills"], values["tags"] = (
        tuple(values["channels"]),
        tuple(values["skills"]),
        tuple(values["tags"]),
    )
    return ConversationView(**values)


async def get(engine: AsyncEngine, conversation_id: uuid.UUID) -> ConversationView:
    async with engine.connect() as conn:
        row = (await conn.execute(_ONE, {"id": conversation_id})).first()
    if row is None:
        raise ConversationNotFound(f"conversation {conversation_id} does not exist")
    return _view(row)


async def listing(
    engine: AsyncEngine,
    *,
    customer_id: uuid.UUID | None,
    status: str | None,
    limit: int,
) -> list[ConversationView]:
    where: list[str] = ["true"]
    params: dict[str, object] = {"limit": limit}
    if customer_id is not None:
        where.append("customer_id = :customer_id")
        params["customer_id"] = customer_id
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    sql = (
        f"SELECT {_COLUMNS} FROM conversations WHERE {' AND '.join(where)}"
        " ORDER BY last_message_at DESC, id DESC LIMIT :limit"
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(text(sql), params)).all()
    return [_view(r) for r in rows]


async def close(engine: AsyncEngine, conversation_id: uuid.UUID) -> ConversationView:
    """Close by an agent; closing a closed conversation changes nothing."""
    async with engine.begin() as conn:
        await conn.execute(_CLOSE, {"id": conversation_id, "now": datetime.now(UTC)})
    return await get(engine, conversation_id)


async def sweep_idle(engine: AsyncEngine, idle_hours: int, now: datetime) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            _SWEEP_IDLE, {"idle": timedelta(hours=idle_hours), "now": now}
        )
    return int(result.rowcount)


async def decisions(
    engine: AsyncEngine, conversation_id: uuid.UUID
) -> list[dict[str, object]]:
    """Every routing decision of a conversation, oldest first."""
    await get(engine, conversation_id)
    async with engine.connect() as conn:
        rows = (
            (await conn.execute(_DECISIONS, {"id": conversation_id})).mappings().all()
        )
    return [dict(r) for r in rows]
