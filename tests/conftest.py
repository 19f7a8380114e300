"""Real PostgreSQL for every database test: OMNIROUTE_TEST_DATABASE_URL or embedded pgserver."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.main import create_app
from app.migrate import upgrade
from app.settings import Settings

pytest_plugins = ["tests.kafka_fixtures"]

SECRETS = {
    "api_tokens": ("test-token", "second-token"),
    "twilio_auth_token": "twilio-test-auth-token",
    "meta_app_secret": "meta-test-app-secret",
    "meta_verify_token": "meta-test-verify-token",
    "mailgun_signing_key": "key-mailgun-test-signing-key",
    "email_webhook_secret": "email-test-webhook-secret",
    "chat_webhook_secret": "chat-test-webhook-secret",
    "telegram_secret_token": "telegram-test-secret-token",
}
# Every outbound channel configured, each provider "reachable" only at the discard
# port: tests that send start their own provider servers and point these at them.
NOWHERE = "http://127.0.0.1:9"
OUTBOUND = {
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_api_base": NOWHERE,
    "whatsapp_access_token": "whatsapp-test-token",
    "whatsapp_phone_number_id": "106540352242922",
    "meta_page_access_token": "page-test-token",
    "meta_page_id": "1234567890",
    "instagram_account_id": "17841400000000000",
    "graph_api_base": NOWHERE,
    "mailgun_api_key": "key-mailgun-test-api-key",
    "mailgun_domain": "mg.omniroute.example.com",
    "mailgun_api_base": NOWHERE,
    "email_from": "support@omniroute.example.com",
    "smtp_host": "127.0.0.1",
    "telegram_bot_token": "123456:test-bot-token",
    "telegram_api_base": NOWHERE,
    "chat_delivery_url": NOWHERE + "/chat",
}
AUTH = {"Authorization": "Bearer test-token"}
PUBLIC_BASE_URL = "https://omniroute.example.com"
TABLES = "responses, sla_timers, agent_events, assignment_log, offers, agents, outbox, decisions, attachments, messages, conversations, customer_merges, identities, webhook_nonces, customers"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    given = os.environ.get("OMNIROUTE_TEST_DATABASE_URL")
    if given:
        yield make_url(given).set(drivername="postgresql+asyncpg")
        return
    import pgserver

    pgdata = tmp_path_factory.mktemp("pgdata")
    server = pgserver.get_server(pgdata, cleanup_mode="delete")  # type: ignore[attr-defined]
    yield make_url(server.get_uri()).set(drivername="postgresql+asyncpg")
    server.cleanup()


async def _admin(url: URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@pytest.fixture(scope="session")
async def database_url(server_url: URL) -> AsyncIterator[URL]:
    """One migrated database per test session, dropped at the end."""
    name = f"omniroute_test_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    url = server_url.set(database=name)
    await asyncio.to_thread(upgrade, url)
    yield url
    await _admin(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    """Each test starts from empty tables (real commits, so concurrency tests work)."""
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


def make_settings(
    database_url: URL, attachment_dir: Path, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url.render_as_string(hide_password=False),
        "public_base_url": PUBLIC_BASE_URL,
        "attachment_dir": attachment_dir,
        **SECRETS,
        **OUTBOUND,
        "dispatch_enabled": False,  # tests of delivery start the dispatcher
        "assignment_enabled": False,  # tests of assignment start the scheduler
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: URL, tmp_path: Path, engine: AsyncEngine) -> Settings:
    return make_settings(database_url, tmp_path / "attachments")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=PUBLIC_BASE_URL
    ) as client:
        yield client
