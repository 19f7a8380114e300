"""Agent desktop streams: events are stored per agent and signalled with NOTIFY, so
any replica serves any agent and a client resumes from its Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator

import asyncpg
import structlog

from app.assignment.errors import AgentNotFound
from app.db import Database
from app.repositories.agent_events import CHANNEL, AgentEvents, StoredEvent

log = structlog.get_logger(__name__)

PAGE = 200
POLL_SECONDS = 2.0  # also looks without a signal: a lost LISTEN only slows delivery


class AgentEventHub:
    """One LISTEN connection per process, fanned out to the streams it serves."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    async def start(self) -> None:
        try:
            conn = await asyncpg.connect(
                self._dsn, server_settings={"application_name": "omniroute.sse"}
            )
            await conn.add_listener(CHANNEL, self._on_notify)
            self._conn = conn
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("sse.listen_failed", error=type(error).__name__)

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None

    def _on_notify(
        self, _conn: object, _pid: int, _channel: str, agent_id: str
    ) -> None:
        for waiter in self._waiters.get(agent_id, ()):
            waiter.set()

    @contextlib.contextmanager
    def subscribe(self, agent_id: str) -> Iterator[asyncio.Event]:
        waiter = asyncio.Event()
        self._waiters[agent_id].add(waiter)
        try:
            yield waiter
        finally:
            self._waiters[agent_id].discard(waiter)
            if not self._waiters[agent_id]:
                del self._waiters[agent_id]


async def start_at(db: Database, agent_id: str, last_event_id: int | None) -> int:
    """Where the stream starts: after Last-Event-ID, else after the newest event."""
    async with db.connection() as conn:
        newest = await AgentEvents(conn).last_seq(agent_id)
    if newest is None:
        raise AgentNotFound(f"agent {agent_id!r} does not exist")
    return newest if last_event_id is None else min(last_event_id, newest)


async def agent_events(
    db: Database, hub: AgentEventHub, agent_id: str, after: int
) -> AsyncIterator[StoredEvent]:
    """The agent's events after `after`, as they commit, until the client leaves."""
    cursor = after
    with hub.subscribe(agent_id) as signal:
        while True:
            signal.clear()
            async with db.connection() as conn:
                page = await AgentEvents(conn).after(agent_id, cursor, PAGE)
            for event in page:
                cursor = event.seq
                yield event
            if len(page) == PAGE:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), POLL_SECONDS)
