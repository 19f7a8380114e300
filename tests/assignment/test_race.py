"""Two service instances on one database, everything at once: the invariants hold.

Both run their own scheduler (one leads) and, to stand for a leader hand-over that
overlaps, the test also runs the assigner from both instances at the same time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from app.assignment.assign import assign_waiting
from app.main import create_app
from tests.assignment.conftest import assignment_settings
from tests.conftest import AUTH, PUBLIC_BASE_URL
from tests.payloads import chat, post

AGENTS = 10
CAPACITY = 3
CONVERSATIONS = 100


@dataclass
class Instance:
    app: FastAPI
    client: httpx.AsyncClient

    async def assign(self) -> None:
        state = self.app.state
        await assign_waiting(state.db, state.rules, state.events, datetime.now(UTC))


@pytest.fixture
async def instances(
    database_url: URL, tmp_path: Path, engine: object
) -> AsyncIterator[tuple[Instance, Instance]]:
    settings = assignment_settings(database_url, tmp_path, assignment_enabled=True)
    async with AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE_URL
                )
            )
            pair.append(Instance(app, client))
        yield pair[0], pair[1]


async def _eventually(
    probe: Callable[[], Awaitable[bool]], what: str, seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while not await probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _overloaded(app: FastAPI) -> list[object]:
    """Agents holding more on a channel than their capacity: must stay empty."""
    async with app.state.db.connection() as conn:
        rows = await conn.fetch(
            """
            SELECT a.id, h.channel, h.held, (a.capacity ->> h.channel)::int AS cap
            FROM agents a
            JOIN (
                SELECT holder_agent_id AS agent_id, channel, count(*) AS held
                FROM conversations
                WHERE status = 'open' AND assignment IN ('offered', 'assigned')
                GROUP BY 1, 2
            ) h ON h.agent_id = a.id
            WHERE h.held > coalesce((a.capacity ->> h.channel)::int, 0)
            """
        )
    return list(rows)


async def _counts(app: FastAPI) -> dict[str, int]:
    async with app.state.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT assignment, count(*) AS n FROM conversations GROUP BY 1"
        )
    return {r["assignment"]: r["n"] for r in rows}


async def _double_held(app: FastAPI) -> list[object]:
    """A conversation offered to or held by two agents at once (pending offers count)."""
    async with app.state.db.connection() as conn:
        rows = await conn.fetch(
            """
            SELECT c.id FROM conversations c
            LEFT JOIN offers o ON o.conversation_id = c.id AND o.status = 'pending'
            GROUP BY c.id, c.assignment, c.holder_agent_id
            HAVING count(o.id) > 1
                OR (c.assignment = 'offered' AND (count(o.id) <> 1
                    OR bool_or(o.agent_id IS DISTINCT FROM c.holder_agent_id)))
                OR (c.assignment <> 'offered' AND count(o.id) > 0)
            """
        )
    return list(rows)


async def _line(app: FastAPI) -> list[uuid.UUID]:
    """The waiting conversations in line order (all normal priority here)."""
    async with app.state.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT id FROM conversations WHERE assignment = 'waiting'"
            " ORDER BY waiting_since, id"
        )
    return [r["id"] for r in rows]


async def _pending(app: FastAPI) -> dict[uuid.UUID, uuid.UUID]:
    """Pending offers: conversation -> offer."""
    async with app.state.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT conversation_id, id FROM offers WHERE status = 'pending'"
        )
    return {r["conversation_id"]: r["id"] for r in rows}


async def _settled(app: FastAPI, offered: int) -> None:
    async def probe() -> bool:
        return len(await _pending(app)) == offered

    await _eventually(probe, f"{offered} pending offers")
    await asyncio.sleep(0.6)  # a scheduler round more: nothing else may be offered
    assert len(await _pending(app)) == offered


async def _check_invariants(app: FastAPI) -> None:
    assert await _overloaded(app) == []
    assert await _double_held(app) == []


async def test_two_instances_hundred_conversations_ten_agents(instances) -> None:
    a, b = instances
    for i in range(AGENTS):
        body = {"name": f"A{i}", "queues": ["support"], "capacity": {"chat": CAPACITY}}
        r = await (a if i % 2 else b).client.put(
            f"/v1/agents/agent{i:02}", json=body, headers=AUTH
        )
        assert r.status_code == 201, r.text

    async def message(n: int) -> None:
        instance = a if n % 2 else b
        r = await post(instance.client, chat(f"visitor-{n:03}", "hello"))
        assert r.status_code == 200, r.text

    async def available(i: int) -> None:
        instance = b if i % 2 else a
        r = await instance.client.put(
            f"/v1/agents/agent{i:02}/status",
            json={"status": "available"},
            headers=AUTH,
        )
        assert r.status_code == 200, r.text

    # Messages, status changes and two assigners racing, all at once.
    work: list[Awaitable[None]] = [message(n) for n in range(CONVERSATIONS)]
    work[10:10] = [available(i) for i in range(AGENTS)]
    work[40:40] = [x.assign() for x in (a, b, a, b)]
    await asyncio.gather(*work)
    await asyncio.gather(a.assign(), b.assign())

    await _settled(a.app, AGENTS * CAPACITY)
    await _check_invariants(a.app)
    counts = await _counts(a.app)
    assert counts == {"offered": 30, "waiting": 70}
    agents = (await a.client.get("/v1/agents", headers=AUTH)).json()["items"]
    assert sorted(x["load"]["chat"] for x in agents) == [CAPACITY] * AGENTS
    assert all(x["free"]["chat"] == 0 for x in agents)

    # Accept everything from both instances at once, and close in rounds: each round
    # of freed capacity goes to the head of the line, until all were assigned.
    ever_assigned: set[uuid.UUID] = set()
    while True:
        line = await _line(a.app)
        pending = await _pending(a.app)
        answers = [
            (a if n % 2 else b).client.post(f"/v1/offers/{offer}/accept", headers=AUTH)
            for n, offer in enumerate(pending.values())
        ]
        for r in await asyncio.gather(*answers):
            assert r.status_code == 200, r.text
        ever_assigned |= pending.keys()
        await _check_invariants(a.app)
        if not line:
            break
        expected = set(line[: AGENTS * CAPACITY])
        closes = [
            (b if n % 2 else a).client.post(
                f"/v1/conversations/{cid}/close", headers=AUTH
            )
            for n, cid in enumerate(pending)
        ]
        for r in await asyncio.gather(*closes):
            assert r.status_code == 200, r.text
        await _settled(a.app, len(expected))
        assert set(await _pending(a.app)) == expected  # the head of the line, in order
        await _check_invariants(a.app)

    assert len(ever_assigned) == CONVERSATIONS
    async with a.app.state.db.connection() as conn:
        offers_per_conversation = await conn.fetch(
            "SELECT count(*) AS n FROM offers GROUP BY conversation_id"
        )
    assert [r["n"] for r in offers_per_conversation] == [1] * CONVERSATIONS
    assert (await _counts(a.app)).get("waiting", 0) == 0
