"""SLA timers: one row per conversation and metric; the arithmetic is routing.sla's,
the due instants are stored so the scheduler finds what is due by index."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_COLUMNS = (
    "conversation_id, metric, customer_id, policy_id, target_seconds, business_hours,"
    " warn_at, started_at, counted_seconds, running_since, stopped_at, breached_at,"
    " due_at, warn_due_at, warned_at, breach_published_at"
)
_OF = f"SELECT {_COLUMNS} FROM sla_timers WHERE conversation_id = $1 ORDER BY metric"
_OF_MANY = (
    f"SELECT {_COLUMNS} FROM sla_timers WHERE conversation_id = ANY($1::uuid[])"
    " ORDER BY conversation_id, metric"
)
_LOCK_OF = f"{_OF} FOR UPDATE"
_SAVE = (
    f"INSERT INTO sla_timers ({_COLUMNS}) VALUES"
    " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    " ON CONFLICT (conversation_id, metric) DO UPDATE SET"
    " policy_id = excluded.policy_id, target_seconds = excluded.target_seconds,"
    " business_hours = excluded.business_hours, warn_at = excluded.warn_at,"
    " started_at = excluded.started_at, counted_seconds = excluded.counted_seconds,"
    " running_since = excluded.running_since, stopped_at = excluded.stopped_at,"
    " breached_at = excluded.breached_at, due_at = excluded.due_at,"
    " warn_due_at = excluded.warn_due_at, warned_at = excluded.warned_at,"
    " breach_published_at = excluded.breach_published_at"
)
# Due now, in two statements (one OR over both due times read every open
# conversation): a warning not yet published (and whose breach is not due too: then
# the breach says it all) or a breach not yet published, of a running timer of an
# open conversation that is not pending. SKIP LOCKED: a timer being changed
# (answered, paused) is left to the next round, which sees its new due time.
_DUE_WHERE = (
    " FROM sla_timers t JOIN conversations c ON c.id = t.conversation_id"
    " WHERE t.stopped_at IS NULL AND t.running_since IS NOT NULL"
    " AND c.status = 'open' AND c.pending_since IS NULL AND"
)
_TIMER_COLUMNS = ", ".join("t." + c.strip() for c in _COLUMNS.split(","))
_DUE_WARNINGS = (
    f"SELECT {_TIMER_COLUMNS}{_DUE_WHERE} t.warned_at IS NULL AND t.warn_due_at <= $1"
    " AND (t.due_at IS NULL OR t.due_at > $1)"
    " ORDER BY t.warn_due_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED"
)
_DUE_BREACHES = (
    f"SELECT {_TIMER_COLUMNS}{_DUE_WHERE} t.breach_published_at IS NULL"
    " AND t.due_at <= $1 ORDER BY t.due_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED"
)
_PENDING = "SELECT pending_since FROM conversations WHERE id = $1 FOR UPDATE"
_SET_PENDING = (
    "UPDATE conversations SET pending_since = $2 WHERE id = $1 AND status = 'open'"
)
_SET_POLICY = "UPDATE conversations SET sla_policy_id = $2 WHERE id = $1"
_CUSTOMER_TAGS = (
    "SELECT cu.tags FROM conversations c JOIN customers cu ON cu.id = c.customer_id"
    " WHERE c.id = $1"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTimer:
    conversation_id: uuid.UUID
    metric: str
    customer_id: uuid.UUID
    policy_id: str
    target_seconds: int
    business_hours: bool
    warn_at: float
    started_at: datetime
    counted_seconds: float
    running_since: datetime | None
    stopped_at: datetime | None
    breached_at: datetime | None
    due_at: datetime | None
    warn_due_at: datetime | None
    warned_at: datetime | None
    breach_published_at: datetime | None


def _timer(row: asyncpg.Record) -> StoredTimer:
    return StoredTimer(**dict(row.items()))


class SlaTimers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def of(self, conversation_id: uuid.UUID) -> list[StoredTimer]:
        return [_timer(r) for r in await self._conn.fetch(_OF, conversation_id)]

    async def of_many(self, conversation_ids: Sequence[uuid.UUID]) -> list[StoredTimer]:
        rows = await self._conn.fetch(_OF_MANY, list(conversation_ids))
        return [_timer(r) for r in rows]

    async def lock_of(self, conversation_id: uuid.UUID) -> list[StoredTimer]:
        """The conversation's timers, locked until the transaction ends."""
        return [_timer(r) for r in await self._conn.fetch(_LOCK_OF, conversation_id)]

    async def save(self, timers: Sequence[StoredTimer]) -> None:
        if not timers:
            return
        await self._conn.executemany(
            _SAVE,
            [
                (
                    t.conversation_id,
                    t.metric,
                    t.customer_id,
                    t.policy_id,
                    t.target_seconds,
                    t.business_hours,
                    t.warn_at,
                    t.started_at,
                    t.counted_seconds,
                    t.running_since,
                    t.stopped_at,
                    t.breached_at,
                    t.due_at,
                    t.warn_due_at,
                    t.warned_at,
                    t.breach_published_at,
                )
                for t in timers
            ],
        )

    async def due(self, now: datetime, limit: int) -> list[StoredTimer]:
        """Timers with a warning or a breach due by `now`, locked (each once)."""
        breaches = await self._conn.fetch(_DUE_BREACHES, now, limit)
        warnings = await self._conn.fetch(_DUE_WARNINGS, now, limit)
        return [_timer(r) for r in (*breaches, *warnings)]

    async def lock_pending(self, conversation_id: uuid.UUID) -> datetime | None:
        found: datetime | None = await self._conn.fetchval(_PENDING, conversation_id)
        return found

    async def set_pending(
        self, conversation_id: uuid.UUID, since: datetime | None
    ) -> bool:
        """Mark (or with None clear) waiting for the customer; False if not open."""
        result = await self._conn.execute(_SET_PENDING, conversation_id, since)
        return bool(result.endswith(" 1"))

    async def set_policy(
        self, conversation_id: uuid.UUID, policy_id: str | None
    ) -> None:
        await self._conn.execute(_SET_POLICY, conversation_id, policy_id)

    async def customer_tags(self, conversation_id: uuid.UUID) -> tuple[str, ...]:
        found = await self._conn.fetchval(_CUSTOMER_TAGS, conversation_id)
        return tuple(found or ())
