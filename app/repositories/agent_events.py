"""What an agent's desktop is pushed (offers, assignments, messages), stored per agent
with an increasing sequence so any replica can serve and resume the stream."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

CHANNEL = "omniroute_agent_events"  # payload: the agent id

# Bumping the agent's counter row-locks it: one agent's events commit in `seq` order.
_BUMP = (
    "UPDATE agents SET event_seq = event_seq + x.n"
    " FROM unnest($1::text[], $2::int[]) AS x(id, n) WHERE agents.id = x.id"
    " RETURNING agents.id, agents.event_seq"
)
_LOCK_AGENTS = "SELECT id FROM agents WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
_INSERT = (
    "INSERT INTO agent_events (agent_id, seq, kind, conversation_id, data)"
    " VALUES ($1, $2, $3, $4, $5::jsonb)"
)
_NOTIFY = "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x"
_AFTER = (
    "SELECT seq, kind, data::text FROM agent_events WHERE agent_id = $1 AND seq > $2"
    " ORDER BY seq LIMIT $3"
)
_LAST = "SELECT event_seq FROM agents WHERE id = $1"
_PRUNE = "DELETE FROM agent_events WHERE created_at < $1"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEvent:
    agent_id: str
    kind: str  # offer, offer_withdrawn, assigned, released, message
    conversation_id: uuid.UUID
    data: dict[str, object]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    kind: str
    data: str  # JSON


class AgentEvents:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add_many(self, events: Sequence[AgentEvent]) -> None:
        """Store the events (for agents that still exist) and notify on commit."""
        if not events:
            return
        counts = Counter(e.agent_id for e in events)
        agents = sorted(counts)
        await self._conn.execute(_LOCK_AGENTS, agents)  # in id order: no deadlock
        rows = await self._conn.fetch(_BUMP, agents, [counts[a] for a in agents])
        next_seq = {r["id"]: r["event_seq"] - counts[r["id"]] + 1 for r in rows}
        values = []
        for event in events:
            if event.agent_id not in next_seq:
                continue  # deleted meanwhile
            seq = next_seq[event.agent_id]
            next_seq[event.agent_id] = seq + 1
            values.append(
                (
                    event.agent_id,
                    seq,
                    event.kind,
                    event.conversation_id,
                    json.dumps(event.data),
                )
            )
        await self._conn.executemany(_INSERT, values)
        await self._conn.execute(_NOTIFY, CHANNEL, list(next_seq))

    async def after(self, agent_id: str, seq: int, limit: int) -> list[StoredEvent]:
        rows = await self._conn.fetch(_AFTER, agent_id, seq, limit)
        return [StoredEvent(*r) for r in rows]

    async def last_seq(self, agent_id: str) -> int | None:
        found = await self._conn.fetchval(_LAST, agent_id)
        return int(found) if found is not None else None

    async def prune(self, before: datetime) -> int:
        result = await self._conn.execute(_PRUNE, before)
        return int(result.split()[-1])
