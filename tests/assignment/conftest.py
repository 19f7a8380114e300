"""Assignment tests: a rules file with queues, agents made over the API, and the
scheduler ticked by the test at a chosen time (or running, where that is the point)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from app.assignment import Scheduler, SchedulerConfig
from app.main import create_app
from app.settings import Settings
from tests.conftest import AUTH, PUBLIC_BASE_URL, make_settings
from tests.payloads import chat, post

RULES = """
rules:
  - id: billing
    when: {keywords_any: [invoice]}
    then: {queue: billing, skills: [billing]}
  - id: urgent
    when: {keywords_any: [outage]}
    then: {queue: support, priority: urgent}
  - id: escalate
    when: {keywords_any: [lawyer]}
    then: {queue: legal, escalate: true}
default:
  queue: support
queues:
  support:
    policy: most_available
    offer_timeout_seconds: 30
  active:
    policy: least_active
  idle:
    policy: longest_idle
  auto:
    auto_accept: true
  sticky_off:
    prefer_last_agent: false
  billing:
    expand:
      - after_seconds: 60
        drop_skills: [billing]
      - after_seconds: 120
        overflow_queue: support
  calm:
    away_on_timeout: false
"""


@dataclass
class Desk:
    """The service as an agent desktop and a provider see it, plus the scheduler."""

    app: FastAPI
    client: httpx.AsyncClient
    scheduler: Scheduler

    async def agent(
        self,
        agent_id: str,
        *,
        queues: tuple[str, ...] = ("support",),
        skills: tuple[str, ...] = (),
        capacity: dict[str, int] | None = None,
        status: str = "available",
    ) -> dict[str, object]:
        body = {
            "name": agent_id.title(),
            "queues": list(queues),
            "skills": list(skills),
            "capacity": capacity if capacity is not None else {"chat": 3},
        }
        r = await self.client.put(f"/v1/agents/{agent_id}", json=body, headers=AUTH)
        assert r.status_code in (200, 201), r.text
        return await self.status(agent_id, status)

    async def status(self, agent_id: str, status: str) -> dict[str, object]:
        r = await self.client.put(
            f"/v1/agents/{agent_id}/status", json={"status": status}, headers=AUTH
        )
        assert r.status_code == 200, r.text
        found: dict[str, object] = r.json()
        return found

    async def message(self, visitor: str, text: str = "hello") -> uuid.UUID:
        """A chat message from `visitor`; the conversation it went to."""
        message_id = uuid.uuid4().hex
        r = await post(self.client, chat(visitor, text, message_id=message_id))
        assert r.status_code == 200, r.text
        async with self.app.state.db.connection() as conn:
            found: uuid.UUID = await conn.fetchval(
                "SELECT conversation_id FROM messages WHERE provider_message_id = $1",
                message_id,
            )
        return found

    async def conversation(self, conversation_id: uuid.UUID) -> dict[str, object]:
        r = await self.client.get(f"/v1/conversations/{conversation_id}", headers=AUTH)
        assert r.status_code == 200, r.text
        found: dict[str, object] = r.json()
        return found

    async def offers(self, agent_id: str) -> list[dict[str, object]]:
        r = await self.client.get(f"/v1/agents/{agent_id}/offers", headers=AUTH)
        assert r.status_code == 200, r.text
        items: list[dict[str, object]] = r.json()["items"]
        return items

    async def answer(self, offer_id: object, verb: str) -> httpx.Response:
        return await self.client.post(f"/v1/offers/{offer_id}/{verb}", headers=AUTH)

    async def get_agent(self, agent_id: str) -> dict[str, object]:
        r = await self.client.get(f"/v1/agents/{agent_id}", headers=AUTH)
        assert r.status_code == 200, r.text
        found: dict[str, object] = r.json()
        return found

    async def history(self, conversation_id: uuid.UUID) -> list[dict[str, object]]:
        r = await self.client.get(
            f"/v1/conversations/{conversation_id}/assignments", headers=AUTH
        )
        assert r.status_code == 200, r.text
        items: list[dict[str, object]] = r.json()["items"]
        return items

    async def tick(self, after_seconds: float = 0) -> int:
        now = datetime.now(UTC) + timedelta(seconds=after_seconds)
        return await self.scheduler.tick(now)


def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def assignment_settings(
    database_url: URL, tmp_path: Path, **overrides: object
) -> Settings:
    return make_settings(
        database_url,
        tmp_path / "attachments",
        routing_rules_file=rules_file(tmp_path),
        **overrides,
    )


D = TypeVar("D", bound="Desk")


@contextlib.asynccontextmanager
async def serve(settings: Settings, desk: type[D]) -> AsyncIterator[D]:
    """One service instance (started and stopped with its lifespan) and a scheduler
    the test ticks; opening a second one over the same database is a restart."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        scheduler = Scheduler(
            app.state.db,
            settings,
            app.state.rules,
            app.state.events,
            app.state.metrics,
            SchedulerConfig(
                offline_grace=timedelta(seconds=settings.offline_grace_seconds)
            ),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as client:
            yield desk(app, client, scheduler)


@contextlib.asynccontextmanager
async def open_desk(
    database_url: URL, tmp_path: Path, **overrides: object
) -> AsyncIterator[Desk]:
    settings = assignment_settings(
        database_url, tmp_path, offline_grace_seconds=120, **overrides
    )
    async with serve(settings, Desk) as desk:
        yield desk


@pytest.fixture
async def desk(
    database_url: URL, tmp_path: Path, engine: object
) -> AsyncIterator[Desk]:
    async with open_desk(database_url, tmp_path) as opened:
        yield opened
