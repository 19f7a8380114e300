"""Offers of a conversation to an agent, with a deadline; at most one pending each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_COLUMNS = (
    "id, conversation_id, agent_id, queue, channel, priority, status, offered_at,"
    " expires_at"
)
_INSERT = (
    "INSERT INTO offers (id, conversation_id, agent_id, queue, channel, priority,"
    " offered_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
_LOCK = f"SELECT {_COLUMNS} FROM offers WHERE id = $1 FOR UPDATE"
_ANSWER = (
    "UPDATE offers SET status = $2, answered_at = $3, reason = $4"
    " WHERE id = $1 AND status = 'pending'"
)
_PENDING_OF_AGENT = (
    f"SELECT {_COLUMNS} FROM offers WHERE agent_id = $1 AND status = 'pending'"
    " ORDER BY offered_at, id"
)
_PENDING_OF_AGENTS = (
    f"SELECT {_COLUMNS} FROM offers WHERE agent_id = ANY($1::text[])"
    " AND status = 'pending' ORDER BY offered_at, id"
)
_WITHDRAW_OF_AGENT = (
    f"UPDATE offers SET status = 'withdrawn', answered_at = $2, reason = $3"
    f" WHERE agent_id = $1 AND status = 'pending' RETURNING {_COLUMNS}"
)
_WITHDRAW_OF_CONVERSATIONS = (
    f"UPDATE offers SET status = 'withdrawn', answered_at = $2, reason = $3"
    f" WHERE conversation_id = ANY($1::uuid[]) AND status = 'pending'"
    f" RETURNING {_COLUMNS}"
)
_EXPIRE = (
    f"UPDATE offers SET status = 'timed_out', answered_at = $1 WHERE id IN"
    f" (SELECT id FROM offers WHERE status = 'pending' AND expires_at <= $1"
    f" ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}"
)
# Safety net: a pending offer whose conversation moved on (closed, reopened, held by
# someone else) is withdrawn, whatever path moved it.
_WITHDRAW_STALE = (
    "UPDATE offers o SET status = 'withdrawn', answered_at = $1,"
    " reason = 'conversation moved on' FROM conversations c WHERE o.status = 'pending'"
    " AND c.id = o.conversation_id AND NOT (c.status = 'open'"
    " AND c.assignment = 'offered' AND c.holder_agent_id = o.agent_id)"
    " RETURNING o.id, o.conversation_id, o.agent_id, o.queue, o.channel, o.priority,"
    " o.status, o.offered_at, o.expires_at"
)
_REFUSED = (
    "SELECT conversation_id, array_agg(DISTINCT agent_id) FROM offers"
    " WHERE conversation_id = ANY($1::uuid[]) AND status IN ('declined', 'timed_out')"
    " GROUP BY conversation_id"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferRow:
    id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: str
    queue: str
    channel: str
    priority: str
    status: str
    offered_at: datetime
    expires_at: datetime


class Offers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add_many(self, offers: Sequence[OfferRow]) -> None:
        await self._conn.executemany(
            _INSERT,
            [
                (
                    o.id,
                    o.conversation_id,
                    o.agent_id,
                    o.queue,
                    o.channel,
                    o.priority,
                    o.offered_at,
                    o.expires_at,
                )
                for o in offers
            ],
        )

    async def lock(self, offer_id: uuid.UUID) -> OfferRow | None:
        row = await self._conn.fetchrow(_LOCK, offer_id)
        return OfferRow(**dict(row)) if row is not None else None

    async def answer(
        self, offer_id: uuid.UUID, status: str, at: datetime, reason: str | None
    ) -> None:
        await self._conn.execute(_ANSWER, offer_id, status, at, reason)

    async def pending_of(self, agent_ids: Sequence[str]) -> list[OfferRow]:
        if len(agent_ids) == 1:
            rows = await self._conn.fetch(_PENDING_OF_AGENT, agent_ids[0])
        else:
            rows = await self._conn.fetch(_PENDING_OF_AGENTS, list(agent_ids))
        return [OfferRow(**dict(r)) for r in rows]

    async def withdraw_of_agent(
        self, agent_id: str, at: datetime, reason: str
    ) -> list[OfferRow]:
        rows = await self._conn.fetch(_WITHDRAW_OF_AGENT, agent_id, at, reason)
        return [OfferRow(**dict(r)) for r in rows]

    async def withdraw_of(
        self, conversation_ids: Sequence[uuid.UUID], at: datetime, reason: str
    ) -> list[OfferRow]:
        rows = await self._conn.fetch(
            _WITHDRAW_OF_CONVERSATIONS, list(conversation_ids), at, reason
        )
        return [OfferRow(**dict(r)) for r in rows]

    async def expire(self, now: datetime, limit: int = 1000) -> list[OfferRow]:
        """Pending offers past their deadline, now timed out."""
        return [
            OfferRow(**dict(r)) for r in await self._conn.fetch(_EXPIRE, now, limit)
        ]

    async def withdraw_stale(self, now: datetime) -> list[OfferRow]:
        return [
            OfferRow(**dict(r)) for r in await self._conn.fetch(_WITHDRAW_STALE, now)
        ]

    async def refused(
        self, conversation_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, frozenset[str]]:
        """Agents that declined each conversation or let its offer time out."""
        rows = await self._conn.fetch(_REFUSED, list(conversation_ids))
        return {r[0]: frozenset(r[1]) for r in rows}
