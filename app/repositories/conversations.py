"""Conversations: placement for ingest, reads and closing for the API and the sweeper.

Every close goes through one statement shape (`_close_where`), so what "closed" means
(status, time, reason) is written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

_COLUMNS = (
    "id, customer_id, status, channels, opened_at, closed_at, close_reason,"
    " last_message_at, message_count, queue, priority, skills, tags,"
    " first_response_at, first_response_seconds, assignment, holder_agent_id,"
    " waiting_since, pending_since, sla_policy_id, follow_up_status, follow_up_reason,"
    " csat_score, csat_comment, csat_at"
)


def _close_where(condition: str, closed_at: str = "$2", reason: str = "$3") -> str:
    return (
        f"UPDATE conversations SET status = 'closed', closed_at = {closed_at},"
        f" close_reason = {reason}, assignment = 'none', pending_since = NULL"
        f" WHERE status = 'open' AND {condition}"
    )


_CLOSE = _close_where("id = $1")
_CLOSE_OTHERS = _close_where("customer_id = $1 AND id <> $4")
# Idle conversations are closed lazily at the next message; the sweep makes the API
# show them closed on time too. Closed at last message + idle time, not at sweep time.
_SWEEP_IDLE = _close_where(
    "last_message_at + $1 < $2", closed_at="last_message_at + $1", reason="'idle'"
)
# A merge leaving two open: the less recently active one closes.
_CLOSE_STALER_OF = _close_where(
    "id = (SELECT id FROM conversations WHERE customer_id = ANY($1::uuid[])"
    " AND status = 'open' ORDER BY last_message_at ASC, id LIMIT 1)"
    " AND (SELECT count(*) FROM conversations WHERE customer_id = ANY($1::uuid[])"
    " AND status = 'open') > 1"
)
_REOPEN = (
    "UPDATE conversations SET status = 'open', closed_at = NULL, close_reason = NULL,"
    " reopened_count = reopened_count + 1, resolution_seconds = NULL,"
    " resolution_business_seconds = NULL,"
    # A survey not yet sent is for a conversation that is not over after all.
    " follow_up_status = CASE WHEN follow_up_status = 'scheduled' THEN NULL"
    " ELSE follow_up_status END,"
    " follow_up_due_at = NULL WHERE id = $1 AND status = 'closed'"
)
_OPEN = (
    "INSERT INTO conversations (id, customer_id, status, opened_at, last_message_at)"
    " VALUES ($1, $2, 'open', $3, $3)"
)
_THREAD_PARENT = (
    "SELECT conversation_id FROM messages WHERE customer_id = $1"
    " AND email_message_id = ANY($2::text[]) ORDER BY sent_at DESC, id DESC LIMIT 1"
)
_ONE = f"SELECT {_COLUMNS} FROM conversations WHERE id = $1"
_MOVE = "UPDATE conversations SET customer_id = $1 WHERE customer_id = $2"


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
    first_response_at: datetime | None = None
    first_response_seconds: float | None = None
    assignment: str = "none"  # none | waiting | offered | assigned
    holder_agent_id: str | None = None  # the agent offered or assigned it
    waiting_since: datetime | None = None  # its place in line (kept while held)
    pending_since: datetime | None = None  # waiting for the customer: SLA paused
    sla_policy_id: str | None = None
    follow_up_status: str | None = None  # scheduled | sent | skipped
    follow_up_reason: str | None = None
    csat_score: int | None = None
    csat_comment: str | None = None
    csat_at: datetime | None = None

    @property
    def shown_status(self) -> str:
        """open, pending (open, waiting for the customer) or closed."""
        if self.status == "open" and self.pending_since is not None:
            return "pending"
        return self.status

    @property
    def assigned_agent_id(self) -> str | None:
        return self.holder_agent_id if self.assignment == "assigned" else None

    @property
    def waiting_since_shown(self) -> datetime | None:
        """Null unless waiting or offered."""
        return self.waiting_since if self.assignment in ("waiting", "offered") else None


class Conversations:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def thread_parent(
        self, customer_id: uuid.UUID, message_ids: Sequence[str]
    ) -> uuid.UUID | None:
        """The conversation of the newest stored email among `message_ids`."""
        found: uuid.UUID | None = await self._conn.fetchval(
            _THREAD_PARENT, customer_id, list(message_ids)
        )
        return found

    async def open(self, customer_id: uuid.UUID, now: datetime) -> uuid.UUID:
        new_id = uuid.uuid4()
        await self._conn.execute(_OPEN, new_id, customer_id, now)
        return new_id

    async def reopen(self, conversation_id: uuid.UUID) -> None:
        await self._conn.execute(_REOPEN, conversation_id)

    async def close(
        self, conversation_id: uuid.UUID, at: datetime, reason: str
    ) -> bool:
        """Close if open (True); closing a closed conversation changes nothing."""
        result = await self._conn.execute(_CLOSE, conversation_id, at, reason)
        return bool(result.endswith(" 1"))

    async def close_others(
        self, customer_id: uuid.UUID, keep: uuid.UUID, at: datetime, reason: str
    ) -> None:
        await self._conn.execute(_CLOSE_OTHERS, customer_id, at, reason, keep)

    async def close_staler_open(
        self, customer_ids: Sequence[uuid.UUID], at: datetime, reason: str
    ) -> None:
        """Of two open conversations among these customers, close the staler one."""
        await self._conn.execute(_CLOSE_STALER_OF, list(customer_ids), at, reason)

    async def sweep_idle(self, idle: timedelta, now: datetime) -> int:
        result = await self._conn.execute(_SWEEP_IDLE, idle, now)
        return int(result.split()[-1])

    async def move_to(self, survivor: uuid.UUID, merged: uuid.UUID) -> None:
        await self._conn.execute(_MOVE, survivor, merged)

    async def get(self, conversation_id: uuid.UUID) -> ConversationView | None:
        row = await self._conn.fetchrow(_ONE, conversation_id)
        return _view(row) if row is not None else None

    async def listing(
        self, *, customer_id: uuid.UUID | None, status: str | None, limit: int
    ) -> list[ConversationView]:
        """Most recently active first."""
        where: list[str] = ["true"]
        args: list[object] = []
        for column, value in (("customer_id", customer_id), ("status", status)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        args.append(limit)
        sql = (
            f"SELECT {_COLUMNS} FROM conversations WHERE {' AND '.join(where)}"
            f" ORDER BY last_message_at DESC, id DESC LIMIT ${len(args)}"
        )
        return [_view(r) for r in await self._conn.fetch(sql, *args)]


def _view(row: asyncpg.Record) -> ConversationView:
    return ConversationView(
        id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        channels=tuple(row["channels"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        close_reason=row["close_reason"],
        last_message_at=row["last_message_at"],
        message_count=row["message_count"],
        queue=row["queue"],
        priority=row["priority"],
        skills=tuple(row["skills"]),
        tags=tuple(row["tags"]),
        first_response_at=row["first_response_at"],
        first_response_seconds=row["first_response_seconds"],
        assignment=row["assignment"],
        holder_agent_id=row["holder_agent_id"],
        waiting_since=row["waiting_since"],
        pending_since=row["pending_since"],
        sla_policy_id=row["sla_policy_id"],
        follow_up_status=row["follow_up_status"],
        follow_up_reason=row["follow_up_reason"],
        csat_score=row["csat_score"],
        csat_comment=row["csat_comment"],
        csat_at=row["csat_at"],
    )
