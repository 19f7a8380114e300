"""Every offer and assignment of a conversation, with why it happened."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

_COLUMNS = (
    "at, outcome, agent_id, offer_id, policy, considered, eligible, excluded,"
    " agent_load, agent_capacity, agent_idle_seconds, expansion_step, reason"
)
_INSERT = (
    f"INSERT INTO assignment_log (conversation_id, {_COLUMNS}) VALUES"
    " ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14)"
)
_OF = (
    f"SELECT {_COLUMNS.replace('excluded', 'excluded::text')} FROM assignment_log"
    " WHERE conversation_id = $1 ORDER BY id"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentRecord:
    conversation_id: uuid.UUID
    at: datetime
    outcome: str
    reason: str
    agent_id: str | None = None
    offer_id: uuid.UUID | None = None
    policy: str | None = None
    considered: int | None = None
    eligible: int | None = None
    excluded: Mapping[str, int] = field(default_factory=dict)
    agent_load: int | None = None
    agent_capacity: int | None = None
    agent_idle_seconds: float | None = None
    expansion_step: int | None = None


class AssignmentLog:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add_many(self, records: Sequence[AssignmentRecord]) -> None:
        if not records:
            return
        await self._conn.executemany(
            _INSERT,
            [
                (
                    r.conversation_id,
                    r.at,
                    r.outcome,
                    r.agent_id,
                    r.offer_id,
                    r.policy,
                    r.considered,
                    r.eligible,
                    json.dumps(dict(r.excluded)),
                    r.agent_load,
                    r.agent_capacity,
                    r.agent_idle_seconds,
                    r.expansion_step,
                    r.reason,
                )
                for r in records
            ],
        )

    async def of(self, conversation_id: uuid.UUID) -> list[AssignmentRecord]:
        """Oldest first."""
        rows = await self._conn.fetch(_OF, conversation_id)
        return [
            AssignmentRecord(
                conversation_id=conversation_id,
                **{**dict(r), "excluded": json.loads(r["excluded"])},
            )
            for r in rows
        ]
