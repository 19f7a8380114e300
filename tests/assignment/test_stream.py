"""The agent desktop feed over a real server: text/event-stream, ids, resume,
heartbeat, served by the replica the desktop happens to reach."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import URL

from app.main import create_app
from tests.assignment.conftest import assignment_settings
from tests.conftest import AUTH
from tests.payloads import chat, post
from tests.server.conftest import _free_port


@dataclass
class Frame:
    event: str | None = None
    id: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def json(self) -> dict[str, object]:
        found: dict[str, object] = json.loads("\n".join(self.data))
        return found


@contextmanager
def _serve(database_url: URL, tmp_path: Path, name: str) -> Iterator[str]:
    """A replica with its scheduler running, on its own port."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = assignment_settings(
        database_url,
        tmp_path / name,
        public_base_url=base,
        assignment_enabled=True,
        sse_heartbeat_seconds=0.3,
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def replicas(
    database_url: URL, tmp_path: Path, engine: object
) -> Iterator[tuple[str, str]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        _serve(database_url, tmp_path, "a") as a,
        _serve(database_url, tmp_path, "b") as b,
    ):
        yield a, b


class Feed:
    """An open event stream, read frame by frame."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self, timeout: float = 5.0) -> Frame:
        found = Frame()
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if found.event or found.data or found.comments:
                        return found
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    found.comments.append(value)
                elif name == "event":
                    found.event = value
                elif name == "id":
                    found.id = value
                elif name == "data":
                    found.data.append(value)
        raise AssertionError("the stream ended")

    async def event(self, timeout: float = 5.0) -> Frame:
        """The next frame that is an event (heartbeats skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                found = await self.frame(timeout)
                if found.event is not None:
                    return found


@asynccontextmanager
async def _feed(
    client: httpx.AsyncClient, agent_id: str, last_event_id: str | None = None
) -> AsyncIterator[Feed]:
    headers = dict(AUTH)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with client.stream(
        "GET", f"/v1/agents/{agent_id}/events", headers=headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Feed(response)


async def test_the_feed_pushes_offer_assigned_message_released_and_resumes(
    replicas: tuple[str, str],
) -> None:
    a, b = replicas
    async with (
        httpx.AsyncClient(base_url=a, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b, timeout=10) as on_b,
    ):
        body = {
            "name": "Alice",
            "queues": ["support"],
            "skills": [],
            "capacity": {"chat": 2},
        }
        assert (await on_a.put("/v1/agents/alice", json=body, headers=AUTH)).is_success
        status = {"status": "available"}
        r = await on_a.put("/v1/agents/alice/status", json=status, headers=AUTH)
        assert r.status_code == 200

        # The desktop reaches replica b; the message and the answers go to a.
        async with _feed(on_b, "alice") as feed:
            heartbeat = await feed.frame()
            assert heartbeat.event is None
            assert heartbeat.comments

            assert (await post(on_a, chat("v-1", "hello", message_id="m-1"))).is_success
            offer = await feed.event()
            assert offer.event == "offer"
            shown = offer.json()
            conversation = shown["conversation_id"]
            offered = shown["offer"]
            assert isinstance(offered, dict)
            assert offered["agent_id"] == "alice"
            assert offered["status"] == "pending"
            assert offered["conversation_id"] == conversation

            r = await on_a.post(f"/v1/offers/{offered['id']}/accept", headers=AUTH)
            assert r.status_code == 200
            assigned = await feed.event()
            assert assigned.event == "assigned"
            assert assigned.json()["conversation_id"] == conversation
            assert int(str(assigned.id)) > int(str(offer.id))
            seen = str(assigned.id)

        # While the desktop is away: a follow-up and a close.
        assert (
            await post(on_a, chat("v-1", "still there?", message_id="m-2"))
        ).is_success
        r = await on_a.post(f"/v1/conversations/{conversation}/close", headers=AUTH)
        assert r.status_code == 200

        async with _feed(on_a, "alice", last_event_id=seen) as feed:
            message = await feed.event()
            assert message.event == "message"
            assert message.json()["conversation_id"] == conversation
            released = await feed.event()
            assert released.event == "released"
            assert released.json()["conversation_id"] == conversation
            assert int(str(seen)) < int(str(message.id)) < int(str(released.id))

        # No id (or one this service never sent): only what happens from now on.
        async with _feed(on_b, "alice", last_event_id="not-an-id") as feed:
            assert (await post(on_a, chat("v-2", "hi", message_id="m-3"))).is_success
            fresh = await feed.event()
            assert fresh.event == "offer"
            assert int(str(fresh.id)) > int(str(released.id))


async def test_the_feed_of_an_unknown_agent_is_404(replicas: tuple[str, str]) -> None:
    async with httpx.AsyncClient(base_url=replicas[0], timeout=10) as client:
        r = await client.get("/v1/agents/nobody/events", headers=AUTH)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
