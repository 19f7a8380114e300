"""The one outbox: every published event is a row written in the same transaction as the
change it reports; the relay publishes unpublished rows in id order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

CHANNEL = "omniroute_outbox"  # NOTIFY is delivered on commit only: never for a rollback


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """An event to publish: its topic, partition key and CloudEvents document."""

    topic: str
    key: str
    event_id: uuid.UUID
    payload: str  # the structured-mode JSON document, published byte for byte


@dataclass(frozen=True, slots=True)
class PendingRow:
    id: int
    topic: str
    key: str
    payload: str


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    oldest: datetime | None


_ADD = (
    "WITH o AS (INSERT INTO outbox (topic, key, event_id, payload)"
    " VALUES ($1, $2, $3, $4::jsonb)) SELECT pg_notify($5, '')"
)
_INSERT = (
    "INSERT INTO outbox (topic, key, event_id, payload) VALUES ($1, $2, $3, $4::jsonb)"
)
_NOTIFY = "SELECT pg_notify($1, '')"
_PENDING = (
    "SELECT id, topic, key, payload::text FROM outbox WHERE published_at IS NULL"
    " AND id > $2 ORDER BY id LIMIT $1"
)
_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_PRUNE = (
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < $1"
    " LIMIT $2)"
)
_BACKLOG = "SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL"


def insert_from(source: str, first_param: int) -> tuple[str, str]:
    """A CTE that writes one outbox row for each row of CTE `source`, and the NOTIFY.

    For hot paths that fold their writes into one statement: returns the CTE text
    (`o AS (...)`) and the select-list item that notifies; the caller passes
    `row_args(row)` as parameters `first_param` onwards.
    """
    n = first_param
    cte = (
        f"o AS (INSERT INTO outbox (topic, key, event_id, payload)"
        f" SELECT ${n}, ${n + 1}, ${n + 2}, ${n + 3}::jsonb FROM {source})"
    )
    return cte, f"pg_notify(${n + 4}, '')"


def row_args(row: OutboxRow) -> tuple[object, ...]:
    return (row.topic, row.key, row.event_id, row.payload, CHANNEL)


class Outbox:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, row: OutboxRow) -> None:
        """Write the event in the caller's transaction and wake the relay on commit."""
        await self._conn.execute(_ADD, *row_args(row))

    async def add_many(self, rows: Sequence[OutboxRow]) -> None:
        """Several events in the caller's transaction; one wake-up for the relay."""
        if not rows:
            return
        await self._conn.executemany(_INSERT, [r[:4] for r in map(row_args, rows)])
        await self._conn.execute(_NOTIFY, CHANNEL)

    async def pending(self, limit: int, *, after: int = 0) -> list[PendingRow]:
        """Unpublished rows in id order, above `after` (the relay's batches in flight).

        No high-water mark is kept: a lower id can commit after a higher one, so the
        relay fetches from 0 again whenever nothing is in flight."""
        rows = await self._conn.fetch(_PENDING, limit, after)
        return [PendingRow(*r) for r in rows]

    async def mark_published(self, ids: Sequence[int]) -> None:
        await self._conn.execute(_MARK, list(ids))

    async def prune(self, published_before: datetime, limit: int = 10_000) -> int:
        """Delete published rows older than the cutoff, at most `limit` at a time."""
        result = await self._conn.execute(_PRUNE, published_before, limit)
        return int(result.split()[-1])

    async def backlog(self) -> Backlog:
        count, oldest = await self._conn.fetchrow(_BACKLOG)
        return Backlog(int(count), oldest)
