"""The parse limits through the app: settings reach verify and the parse pool."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from app.settings import Settings
from connectors.email_text import MAX_PARTS
from tests.bombs import mime_plain_text_bomb
from tests.conftest import PUBLIC_BASE_URL, make_settings
from tests.payloads import post, sms

PROBLEM = "application/problem+json"


async def _messages(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one()
        )


@pytest.fixture
async def limited(database_url, tmp_path, engine):
    """A client for an app with `**overrides` settings (call it with them)."""
    stack = []

    async def make(**overrides: object) -> httpx.AsyncClient:
        app = create_app(make_settings(database_url, tmp_path, **overrides))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE_URL
        )
        stack.append((lifespan, client))
        return client

    yield make
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_max_form_fields_reaches_verify(limited, engine):
    client = await limited(max_form_fields=5)

    response = await post(client, sms("+14155550100", "hi"))

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == "the form has more than 5 fields; not checked"
    assert await _messages(engine) == 0


async def test_a_parse_over_its_time_budget_is_422_payload_too_complex(limited, engine):
    # A 9 MiB signed email takes about 0.2 s to parse, four times this budget.
    client = await limited(parse_timeout_seconds=0.05)

    response = await post(client, mime_plain_text_bomb())

    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/problems/payload-too-complex")
    assert problem["detail"] == "the body took more than 0.05 s to parse"
    assert await _messages(engine) == 0


async def test_a_large_body_is_parsed_off_the_loop_and_stored(limited, engine):
    client = await limited(parse_inline_bytes=1024)

    response = await post(client, sms("+14155550100", "x" * 2000))

    assert response.status_code == 200
    assert await _messages(engine) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("OMNIROUTE_MAX_FORM_FIELDS", str(MAX_PARTS + 1), id="fields"),
        pytest.param("OMNIROUTE_PARSE_TIMEOUT_SECONDS", "0", id="timeout"),
        pytest.param("OMNIROUTE_PARSE_QUEUE", "0", id="queue"),
    ],
)
def test_settings_refuse_limits_out_of_range(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(database_url="postgresql://u@h/db", _env_file=None)


def test_settings_read_the_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("OMNIROUTE_MAX_FORM_FIELDS", "50")
    monkeypatch.setenv("OMNIROUTE_MAX_FORM_BYTES", "4096")
    settings = Settings(database_url="postgresql://u@h/db", _env_file=None)

    assert (settings.form_limits().max_fields, settings.form_limits().max_bytes) == (
        50,
        4096,
    )
