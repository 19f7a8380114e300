"""Who holds a conversation: its place in line, its offer or its agent.

`assignment` moves none -> waiting (ingest) -> offered | assigned -> waiting (decline,
timeout, release, transfer) and to none on close. Load is counted from these rows:
an agent's load on a channel is its open conversations held (offered or assigned) on it.
Every change that raises a load runs under `lock_assignment` (one transaction-scoped
advisory lock per database), so choice and capacity check are atomic across replicas.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

ASSIGN_LOCK_KEY = 0x6F6D6E6961737367  # "omniassg"
CHANNEL = "omniroute_assign"  # wakes the scheduler: something may be assignable

_LOCK = "SELECT pg_advisory_xact_lock($1)"
_WAKE = "SELECT pg_notify($1, '')"
_LOADS = (
    "SELECT holder_agent_id, channel, count(*) FROM conversations"
    " WHERE holder_agent_id IS NOT NULL AND status = 'open' GROUP BY 1, 2"
)
_LOADS_OF = (
    "SELECT holder_agent_id, channel, count(*) FROM conversations"
    " WHERE holder_agent_id = ANY($1::text[]) AND status = 'open' GROUP BY 1, 2"
)
_PRIORITY_RANK = (
    "CASE c.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2"
    " ELSE 3 END"
)
_WAITING = (
    "SELECT c.id, c.customer_id, c.queue, c.channel, c.priority, c.skills,"
    " c.waiting_since, cu.last_agent_id FROM conversations c"
    " JOIN customers cu ON cu.id = c.customer_id"
    " WHERE c.assignment = 'waiting' AND c.status = 'open'"
    f" ORDER BY {_PRIORITY_RANK}, c.waiting_since, c.id LIMIT $1"
)
_CLAIM = (
    "UPDATE conversations c SET assignment = x.state, holder_agent_id = x.agent,"
    " assigned_at = CASE WHEN x.state = 'assigned' THEN $4::timestamptz END"
    " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(id, agent, state)"
    " WHERE c.id = x.id AND c.assignment = 'waiting' AND c.status = 'open'"
    " RETURNING c.id"
)
_ACCEPT = (
    "UPDATE conversations SET assignment = 'assigned', assigned_at = $3"
    " WHERE id = $1 AND holder_agent_id = $2 AND assignment = 'offered'"
    " AND status = 'open' RETURNING customer_id"
)
_HOLD = (
    "UPDATE conversations SET assignment = $3::text, holder_agent_id = $2,"
    " assigned_at = CASE WHEN $3::text = 'assigned' THEN $4::timestamptz END"
    " WHERE id = $1 AND status = 'open'"
)
# Back in line at its original place (waiting_since is kept).
_REQUEUE = (
    "WITH old AS (SELECT id, holder_agent_id, assignment FROM conversations"
    " WHERE id = ANY($1::uuid[]) AND status = 'open' FOR UPDATE)"
    " UPDATE conversations c SET assignment = 'waiting', holder_agent_id = NULL,"
    " assigned_at = NULL, queue = coalesce($2, c.queue) FROM old WHERE c.id = old.id"
    " RETURNING c.id, c.customer_id, c.queue, c.channel, c.priority,"
    " old.holder_agent_id, old.assignment"
)
_REMEMBER = "UPDATE customers SET last_agent_id = $2 WHERE id = $1"
_REMEMBER_MANY = (
    "UPDATE customers c SET last_agent_id = x.agent"
    " FROM unnest($1::uuid[], $2::text[]) AS x(id, agent) WHERE c.id = x.id"
)
_HELD_BY = (
    "SELECT id FROM conversations WHERE holder_agent_id = $1 AND status = 'open'"
    " ORDER BY waiting_since, id"
)
_ASSIGNED_TO = (
    "SELECT id FROM conversations WHERE holder_agent_id = $1 AND status = 'open'"
    " AND assignment = 'assigned' ORDER BY assigned_at, id"
)
# Closed while held: the holder lets go (the close itself is one shared statement).
_LET_GO_CLOSED = (
    "WITH old AS (SELECT id, holder_agent_id FROM conversations"
    " WHERE holder_agent_id IS NOT NULL AND status = 'closed' LIMIT $1"
    " FOR UPDATE SKIP LOCKED) UPDATE conversations c SET holder_agent_id = NULL"
    " FROM old WHERE c.id = old.id RETURNING c.id, c.customer_id, old.holder_agent_id"
)
_WAITING_BY_QUEUE = (
    "SELECT queue, count(*), min(waiting_since) FROM conversations"
    " WHERE assignment = 'waiting' AND status = 'open' GROUP BY queue"
)
_STATE = (
    "SELECT id, customer_id, status, assignment, holder_agent_id, queue, channel,"
    " priority, skills, waiting_since FROM conversations WHERE id = $1"
)
_LOCK_STATE = f"{_STATE} FOR UPDATE"


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingRow:
    id: uuid.UUID
    customer_id: uuid.UUID
    queue: str
    channel: str
    priority: str
    skills: tuple[str, ...]
    waiting_since: datetime
    last_agent_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldingState:
    id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    assignment: str
    holder_agent_id: str | None
    queue: str | None
    channel: str | None
    priority: str | None
    skills: tuple[str, ...]
    waiting_since: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Requeued:
    id: uuid.UUID
    customer_id: uuid.UUID
    queue: str | None
    channel: str | None
    priority: str | None
    previous_agent_id: str | None
    previous_assignment: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LetGo:
    id: uuid.UUID
    customer_id: uuid.UUID
    agent_id: str


Loads = dict[str, dict[str, int]]  # agent id -> channel -> held conversations


class Holding:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_assignment(self) -> None:
        """Serialize every load-raising change until this transaction ends."""
        await self._conn.execute(_LOCK, ASSIGN_LOCK_KEY)

    async def wake_scheduler(self) -> None:
        """On commit, the scheduler looks for assignable conversations."""
        await self._conn.execute(_WAKE, CHANNEL)

    async def loads(self, agent_ids: Sequence[str] | None = None) -> Loads:
        rows = (
            await self._conn.fetch(_LOADS)
            if agent_ids is None
            else await self._conn.fetch(_LOADS_OF, list(agent_ids))
        )
        loads: Loads = {}
        for agent, channel, count in rows:
            loads.setdefault(agent, {})[channel] = int(count)
        return loads

    async def waiting(self, limit: int) -> list[WaitingRow]:
        """The line: priority (urgent first), then waiting since, oldest first."""
        rows = await self._conn.fetch(_WAITING, limit)
        return [
            WaitingRow(
                id=r["id"],
                customer_id=r["customer_id"],
                queue=r["queue"],
                channel=r["channel"],
                priority=r["priority"],
                skills=tuple(r["skills"]),
                waiting_since=r["waiting_since"],
                last_agent_id=r["last_agent_id"],
            )
            for r in rows
        ]

    async def claim(
        self,
        claims: Sequence[tuple[uuid.UUID, str, str]],
        at: datetime,
    ) -> set[uuid.UUID]:
        """(conversation, agent, 'offered' | 'assigned') for those still waiting."""
        if not claims:
            return set()
        ids, agents, states = zip(*claims, strict=True)
        rows = await self._conn.fetch(_CLAIM, list(ids), list(agents), list(states), at)
        return {r["id"] for r in rows}

    async def accept(
        self, conversation_id: uuid.UUID, agent_id: str, at: datetime
    ) -> uuid.UUID | None:
        """Offered to `agent_id` -> assigned; the customer id, or None if it moved on."""
        found: uuid.UUID | None = await self._conn.fetchval(
            _ACCEPT, conversation_id, agent_id, at
        )
        return found

    async def hold(
        self, conversation_id: uuid.UUID, agent_id: str, state: str, at: datetime
    ) -> None:
        """Give the conversation to `agent_id` as 'offered' or 'assigned'."""
        await self._conn.execute(_HOLD, conversation_id, agent_id, state, at)

    async def requeue(
        self, conversation_ids: Sequence[uuid.UUID], queue: str | None = None
    ) -> list[Requeued]:
        """Back to waiting (in `queue` when given), keeping their place in line."""
        rows = await self._conn.fetch(_REQUEUE, list(conversation_ids), queue)
        return [
            Requeued(
                id=r["id"],
                customer_id=r["customer_id"],
                queue=r["queue"],
                channel=r["channel"],
                priority=r["priority"],
                previous_agent_id=r["holder_agent_id"],
                previous_assignment=r["assignment"],
            )
            for r in rows
        ]

    async def remember_agent(self, customer_id: uuid.UUID, agent_id: str) -> None:
        """The agent a returning customer is offered first (prefer_last_agent)."""
        await self._conn.execute(_REMEMBER, customer_id, agent_id)

    async def remember_agents(self, pairs: list[tuple[uuid.UUID, str]]) -> None:
        """remember_agent for many customers in one statement (each customer once)."""
        if pairs:
            latest = dict(pairs)  # a customer twice: the later agent wins
            await self._conn.execute(
                _REMEMBER_MANY, list(latest), list(latest.values())
            )

    async def held_by(self, agent_id: str) -> list[uuid.UUID]:
        return [r["id"] for r in await self._conn.fetch(_HELD_BY, agent_id)]

    async def assigned_to(self, agent_id: str) -> list[uuid.UUID]:
        return [r["id"] for r in await self._conn.fetch(_ASSIGNED_TO, agent_id)]

    async def let_go_closed(self, limit: int = 1000) -> list[LetGo]:
        rows = await self._conn.fetch(_LET_GO_CLOSED, limit)
        return [LetGo(id=r[0], customer_id=r[1], agent_id=r[2]) for r in rows]

    async def waiting_by_queue(self) -> dict[str, tuple[int, datetime]]:
        """Per queue: how many wait, and since when the oldest."""
        rows = await self._conn.fetch(_WAITING_BY_QUEUE)
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    async def state(
        self, conversation_id: uuid.UUID, *, lock: bool = False
    ) -> HoldingState | None:
        row = await self._conn.fetchrow(
            _LOCK_STATE if lock else _STATE, conversation_id
        )
        if row is None:
            return None
        return HoldingState(**{**dict(row), "skills": tuple(row["skills"])})
