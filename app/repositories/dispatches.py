"""The send outbox: a dispatch row per outbound message, claimed before its request is
made and kept claimed while the outcome is unknown, so a dead dispatcher's rows are
found (and not re-sent) on restart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

CHANNEL = "omniroute_dispatch"  # NOTIFY on commit wakes the dispatcher

_ADD = (
    "WITH d AS (INSERT INTO dispatches (message_id, provider, delivery)"
    " VALUES ($1, $2, $3::jsonb)) SELECT pg_notify($4, '')"
)
_RENEW = (
    "WITH d AS (UPDATE dispatches SET state = 'pending', attempts = 0,"
    " not_before = now(), claimed_at = NULL, claimed_by = NULL"
    " WHERE message_id = $1 AND state = 'done' RETURNING id)"
    " SELECT pg_notify($2, '') FROM d"
)
# SKIP LOCKED: a claim never waits on, or takes, a row another claimer holds.
_CLAIM = (
    "UPDATE dispatches SET state = 'claimed', claimed_at = now(), claimed_by = $3,"
    " attempts = attempts + 1 WHERE id IN (SELECT id FROM dispatches"
    " WHERE state = 'pending' AND provider = $1 AND not_before <= now()"
    " ORDER BY not_before, id LIMIT $2 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, message_id, provider, delivery::text, attempts"
)
_NEXT_DUE = "SELECT min(not_before) FROM dispatches WHERE state = 'pending'"
_DONE = "UPDATE dispatches SET state = 'done' WHERE id = $1"
_AGAIN = (
    "UPDATE dispatches SET state = 'pending', not_before = $2, claimed_at = NULL,"
    " claimed_by = NULL WHERE id = $1"
)
# Claimed by a process that is gone: the request may have been made. Never re-sent.
_ORPHANS = (
    "UPDATE dispatches SET state = 'done' WHERE state = 'claimed'"
    " AND (claimed_by IS DISTINCT FROM $1) RETURNING message_id"
)


@dataclass(frozen=True, slots=True)
class ClaimedDispatch:
    id: int
    message_id: uuid.UUID
    provider: str
    delivery: str  # JSON of outbound.model.Delivery
    attempts: int  # including this one


class Dispatches:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, message_id: uuid.UUID, provider: str, delivery: str) -> None:
        """Queue the send in the caller's transaction; the dispatcher wakes on commit."""
        await self._conn.execute(_ADD, message_id, provider, delivery, CHANNEL)

    async def renew(self, message_id: uuid.UUID) -> bool:
        """Queue a finished dispatch again (a person's retry); False if none was done."""
        return await self._conn.fetchval(_RENEW, message_id, CHANNEL) is not None

    async def next_due(self) -> datetime | None:
        due: datetime | None = await self._conn.fetchval(_NEXT_DUE)
        return due

    async def claim(
        self, provider: str, limit: int, claimer: str
    ) -> list[ClaimedDispatch]:
        rows = await self._conn.fetch(_CLAIM, provider, limit, claimer)
        return [ClaimedDispatch(*r) for r in rows]

    async def done(self, dispatch_id: int) -> None:
        await self._conn.execute(_DONE, dispatch_id)

    async def again_at(self, dispatch_id: int, not_before: datetime) -> None:
        await self._conn.execute(_AGAIN, dispatch_id, not_before)

    async def close_orphans(self, claimer: str) -> list[uuid.UUID]:
        """Finish rows claimed by anyone but `claimer`; their messages' ids."""
        return [r[0] for r in await self._conn.fetch(_ORPHANS, claimer)]
