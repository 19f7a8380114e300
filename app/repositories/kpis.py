"""KPI facts written as things happen (responses, resolution), and the follow-up
survey's state on the conversation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_AWAIT = (
    "WITH old AS (SELECT id, pending_since FROM conversations WHERE id = $1 FOR UPDATE)"
    " UPDATE conversations c SET awaiting_since = coalesce(c.awaiting_since, $2),"
    " pending_since = NULL FROM old WHERE c.id = old.id RETURNING old.pending_since"
)
_ANSWER = (
    "WITH old AS (SELECT id, awaiting_since FROM conversations WHERE id = $1"
    " AND awaiting_since IS NOT NULL FOR UPDATE)"
    " UPDATE conversations c SET awaiting_since = NULL FROM old WHERE c.id = old.id"
    " RETURNING old.awaiting_since, c.queue, c.channel,"
    " NOT EXISTS (SELECT 1 FROM responses r WHERE r.conversation_id = $1) AS first"
)
_RESPONSE = (
    "INSERT INTO responses (conversation_id, kind, awaited_since, answered_at,"
    " seconds, business_seconds, agent_id, target_seconds, within_target)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_CLOSED = (
    "SELECT id, customer_id, opened_at, closed_at, close_reason, queue, channel"
    " FROM conversations WHERE id = $1 AND status = 'closed'"
)
_UNRESOLVED = (
    "SELECT id FROM conversations WHERE status = 'closed' AND resolution_seconds IS NULL"
    " ORDER BY closed_at LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_RESOLVE = (
    "UPDATE conversations SET resolution_seconds = $2,"
    " resolution_business_seconds = $3, awaiting_since = NULL,"
    " follow_up_status = $4, follow_up_reason = NULL, follow_up_due_at = $5"
    " WHERE id = $1"
)

# The customer's surveyed conversation still waiting for a rating (newest first).
_AWAITING_SURVEY = (
    "SELECT id FROM conversations WHERE customer_id = $1 AND follow_up_status = 'sent'"
    " AND csat_score IS NULL AND follow_up_reason IS NULL AND follow_up_sent_at >= $2"
    " ORDER BY follow_up_sent_at DESC LIMIT 1 FOR UPDATE"
)
_CSAT_SEEN = (
    "SELECT id FROM conversations WHERE customer_id = $1 AND csat_message_id = $2"
)
_RECORD_CSAT = (
    "UPDATE conversations SET csat_score = $2, csat_comment = $3, csat_at = $4,"
    " csat_message_id = $5 WHERE id = $1 AND csat_score IS NULL"
)
_DUE_FOLLOW_UPS = (
    "SELECT id, queue FROM conversations WHERE follow_up_status = 'scheduled'"
    " AND follow_up_due_at <= $1 ORDER BY follow_up_due_at LIMIT $2"
)
_MARK_FOLLOW_UP = (
    "UPDATE conversations SET follow_up_status = $2, follow_up_reason = $3,"
    " follow_up_sent_at = $4 WHERE id = $1 AND follow_up_status = 'scheduled'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedConversation:
    id: uuid.UUID
    customer_id: uuid.UUID
    opened_at: datetime
    closed_at: datetime
    close_reason: str | None
    queue: str | None
    channel: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    awaited_since: datetime
    first: bool  # the conversation's first response
    queue: str | None
    channel: str | None


class Kpis:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def awaiting(
        self, conversation_id: uuid.UUID, since: datetime
    ) -> datetime | None:
        """A customer message: the oldest unanswered one is remembered and the
        conversation is no longer pending. Returns since when it was pending."""
        found: datetime | None = await self._conn.fetchval(
            _AWAIT, conversation_id, since
        )
        return found

    async def answer(self, conversation_id: uuid.UUID) -> Answered | None:
        """An agent reply: what it answered (None: nothing was waiting)."""
        row = await self._conn.fetchrow(_ANSWER, conversation_id)
        if row is None:
            return None
        return Answered(
            awaited_since=row["awaiting_since"],
            first=row["first"],
            queue=row["queue"],
            channel=row["channel"],
        )

    async def add_response(
        self,
        conversation_id: uuid.UUID,
        answered: Answered,
        at: datetime,
        seconds: float,
        business_seconds: float,
        agent_id: str,
        target: tuple[int, bool] | None,
    ) -> None:
        """`target`: the SLA target it was held to and whether it was met."""
        kind = "first" if answered.first else "next"
        target_seconds, within = target if target is not None else (None, None)
        await self._conn.execute(
            _RESPONSE,
            conversation_id,
            kind,
            answered.awaited_since,
            at,
            seconds,
            business_seconds,
            agent_id,
            target_seconds,
            within,
        )

    async def closed(self, conversation_id: uuid.UUID) -> ClosedConversation | None:
        row = await self._conn.fetchrow(_CLOSED, conversation_id)
        return ClosedConversation(**dict(row.items())) if row is not None else None

    async def unresolved(self, limit: int) -> list[uuid.UUID]:
        """Closed conversations whose close was not yet accounted for, locked."""
        return [r["id"] for r in await self._conn.fetch(_UNRESOLVED, limit)]

    async def resolve(
        self,
        conversation_id: uuid.UUID,
        seconds: float,
        business_seconds: float,
        follow_up_due_at: datetime | None,
    ) -> None:
        """Resolution time once closed, and the follow-up survey scheduled (or not)."""
        status = "scheduled" if follow_up_due_at is not None else None
        await self._conn.execute(
            _RESOLVE,
            conversation_id,
            seconds,
            business_seconds,
            status,
            follow_up_due_at,
        )

    async def awaiting_survey(
        self, customer_id: uuid.UUID, sent_since: datetime
    ) -> uuid.UUID | None:
        """The conversation whose survey (sent since `sent_since`) awaits a rating."""
        found: uuid.UUID | None = await self._conn.fetchval(
            _AWAITING_SURVEY, customer_id, sent_since
        )
        return found

    async def csat_seen(
        self, customer_id: uuid.UUID, message_key: str
    ) -> uuid.UUID | None:
        """The conversation a redelivered rating message was already recorded on."""
        found: uuid.UUID | None = await self._conn.fetchval(
            _CSAT_SEEN, customer_id, message_key
        )
        return found

    async def record_csat(
        self,
        conversation_id: uuid.UUID,
        score: int,
        comment: str | None,
        at: datetime,
        message_key: str,
    ) -> bool:
        result = await self._conn.execute(
            _RECORD_CSAT, conversation_id, score, comment, at, message_key
        )
        return bool(result.endswith(" 1"))

    async def due_follow_ups(
        self, now: datetime, limit: int
    ) -> list[tuple[uuid.UUID, str | None]]:
        rows = await self._conn.fetch(_DUE_FOLLOW_UPS, now, limit)
        return [(r["id"], r["queue"]) for r in rows]

    async def mark_follow_up(
        self,
        conversation_id: uuid.UUID,
        status: str,
        reason: str | None,
        sent_at: datetime | None,
    ) -> bool:
        """sent or skipped, once: False when it was no longer scheduled."""
        result = await self._conn.execute(
            _MARK_FOLLOW_UP, conversation_id, status, reason, sent_at
        )
        return bool(result.endswith(" 1"))
