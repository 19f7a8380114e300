"""Agents: their settings, presence and the per-agent event sequence."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_COLUMNS = (
    "id, name, status, queues, skills, languages, capacity::text, status_changed_at,"
    " offline_since, last_assigned_at"
)
_PUT = (
    "INSERT INTO agents (id, name, queues, skills, languages, capacity)"
    " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (id) DO UPDATE SET"
    " name = excluded.name, queues = excluded.queues, skills = excluded.skills,"
    " languages = excluded.languages, capacity = excluded.capacity"
    " RETURNING (xmax = 0) AS created"
)
_ONE = f"SELECT {_COLUMNS} FROM agents WHERE id = $1"
_LOCK = f"SELECT {_COLUMNS} FROM agents WHERE id = $1 FOR UPDATE"
_ALL = f"SELECT {_COLUMNS} FROM agents ORDER BY id"
_SET_STATUS = (
    "UPDATE agents SET status = $2::text, status_changed_at = $3, offline_since ="
    " CASE WHEN $2::text = 'offline' THEN coalesce(offline_since, $3) END"
    " WHERE id = $1"
)
_DELETE = "DELETE FROM agents WHERE id = $1"
_TOUCH = "UPDATE agents SET last_assigned_at = $2 WHERE id = ANY($1::text[])"
# Offline past the grace and still holding conversations.
_OFFLINE_PAST = (
    "SELECT a.id FROM agents a WHERE a.status = 'offline' AND a.offline_since <= $1"
    " AND EXISTS (SELECT 1 FROM conversations c WHERE c.holder_agent_id = a.id"
    " AND c.status = 'open') ORDER BY a.id"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSettings:
    id: str
    name: str
    queues: tuple[str, ...]
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    capacity: Mapping[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRow:
    id: str
    name: str
    status: str
    queues: tuple[str, ...]
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    capacity: Mapping[str, int]
    status_changed_at: datetime
    offline_since: datetime | None
    last_assigned_at: datetime | None


class Agents:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def put(self, agent: AgentSettings) -> bool:
        """Create or replace the settings (presence is kept); True when created."""
        created = await self._conn.fetchval(
            _PUT,
            agent.id,
            agent.name,
            list(agent.queues),
            list(agent.skills),
            list(agent.languages),
            json.dumps(dict(agent.capacity)),
        )
        return bool(created)

    async def get(self, agent_id: str) -> AgentRow | None:
        row = await self._conn.fetchrow(_ONE, agent_id)
        return _row(row) if row is not None else None

    async def lock(self, agent_id: str) -> AgentRow | None:
        """The agent, row-locked until the transaction ends."""
        row = await self._conn.fetchrow(_LOCK, agent_id)
        return _row(row) if row is not None else None

    async def all(self) -> list[AgentRow]:
        return [_row(r) for r in await self._conn.fetch(_ALL)]

    async def set_status(self, agent_id: str, status: str, at: datetime) -> None:
        await self._conn.execute(_SET_STATUS, agent_id, status, at)

    async def delete(self, agent_id: str) -> None:
        await self._conn.execute(_DELETE, agent_id)

    async def touch(self, agent_ids: Sequence[str], at: datetime) -> None:
        """Record an assignment (or offer) to each of these agents at `at`."""
        if agent_ids:
            await self._conn.execute(_TOUCH, list(agent_ids), at)

    async def offline_since_before(self, cutoff: datetime) -> list[str]:
        """Agents offline since `cutoff` or earlier that still hold conversations."""
        return [r["id"] for r in await self._conn.fetch(_OFFLINE_PAST, cutoff)]


def _row(row: asyncpg.Record) -> AgentRow:
    return AgentRow(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        queues=tuple(row["queues"]),
        skills=tuple(row["skills"]),
        languages=tuple(row["languages"]),
        capacity=json.loads(row["capacity"]),
        status_changed_at=row["status_changed_at"],
        offline_since=row["offline_since"],
        last_assigned_at=row["last_assigned_at"],
    )
