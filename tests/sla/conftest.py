"""SLA tests: a rules file with an sla block, the service over the API and the
scheduler ticked by the test at a chosen time."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from devtools.event_schemas import load_event_schemas, validate_event
from tests.assignment.conftest import Desk, serve
from tests.conftest import AUTH, make_settings

RULES = """
business_hours:
  timezone: UTC
  weekly: {{{day}: ["09:00-10:00"]}}
rules:
  - id: office
    when: {{keywords_any: [office]}}
    then: {{queue: office}}
  - id: urgent
    when: {{keywords_any: [outage]}}
    then: {{queue: support, priority: urgent}}
default:
  queue: support
sla:
  - id: office-hours
    when: {{queue: office}}
    first_response: 30m
    business_hours: true
  - id: urgent
    when: {{priority: urgent}}
    first_response: 20s
    next_response: 20s
  - id: standard
    first_response: 60s
    next_response: 120s
    resolution: 1h
    warn_at: 0.5
"""
# The one opening day: two days from today, so "now" is never inside the hours.
OPEN_DAY = datetime.now(UTC).date() + timedelta(days=2)
SCHEMAS = load_event_schemas()
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class SlaDesk(Desk):
    async def reply(self, conversation_id: uuid.UUID, agent_id: str = "alice") -> None:
        r = await self.client.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"text": "On it.", "agent_id": agent_id},
            headers=AUTH,
        )
        assert r.status_code == 202, r.text

    async def sla(self, conversation_id: uuid.UUID) -> dict[str, object]:
        found = (await self.conversation(conversation_id))["sla"]
        assert isinstance(found, dict)
        return found

    async def events(self) -> list[tuple[str, dict[str, object]]]:
        """SLA events in the outbox, oldest first: (type, data)."""
        async with self.app.state.db.connection() as conn:
            rows = await conn.fetch(
                "SELECT key, payload FROM outbox WHERE topic = 'omniroute.sla' ORDER BY id"
            )
        found = []
        for row in rows:
            payload = (
                json.loads(row["payload"])
                if isinstance(row["payload"], str)
                else row["payload"]
            )
            assert row["key"] == payload["data"]["customer_id"]
            validate_event(payload, SCHEMAS)  # every event as docs/asyncapi.yaml says
            found.append((payload["type"], payload["data"]))
        return found


def rules_file(tmp_path: Path, rules: str | None) -> Path:
    path = tmp_path / "rules.yaml"
    if not path.exists():
        path.write_text(rules or RULES.format(day=DAYS[OPEN_DAY.weekday()]))
    return path


@contextlib.asynccontextmanager
async def open_sla_desk(
    database_url: URL, tmp_path: Path, rules: str | None = None
) -> AsyncIterator[SlaDesk]:
    """One service instance; a second one over the same tmp_path is a restart."""
    settings = make_settings(
        database_url,
        tmp_path / "attachments",
        routing_rules_file=rules_file(tmp_path, rules),
    )
    async with serve(settings, SlaDesk) as desk:
        yield desk


@pytest.fixture
async def desk(
    database_url: URL, tmp_path: Path, engine: object
) -> AsyncIterator[SlaDesk]:
    async with open_sla_desk(database_url, tmp_path) as opened:
        yield opened
