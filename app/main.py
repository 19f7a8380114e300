"""The FastAPI application, built by `create_app` (never at import)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from app import conversations
from app.api import (
    attachments,
    customers,
    health,
    problems,
    routing_rules,
    webhooks,
)
from app.api import conversations as conversations_api
from app.api.middleware import BodyLimit, RequestContext
from app.attachment_store import AttachmentStore
from app.db import make_engine
from app.events import EventConfig
from app.ingest import Ingestor, IngestPolicy, Routing
from app.metrics import Metrics
from app.relay import Producer, Relay, RelayConfig
from app.rules_state import RulesHolder
from app.settings import Settings
from connectors.registry import CONNECTORS
from routing.language import LanguageDetector

log = structlog.get_logger(__name__)
IDLE_SWEEP_SECONDS = 60.0


async def _sweep_idle_forever(app: FastAPI, settings: Settings) -> None:
    while True:
        await asyncio.sleep(IDLE_SWEEP_SECONDS)
        try:
            closed = await conversations.sweep_idle(
                app.state.engine, settings.conversation_idle_hours, datetime.now(UTC)
            )
        except Exception:  # keep sweeping; the next message closes lazily anyway
            log.warning("conversations.sweep_failed", exc_info=True)
            continue
        if closed:
            log.info("conversations.closed_idle", count=closed)


def make_relay(settings: Settings, metrics: Metrics) -> Relay | None:
    """The outbox relay, when Kafka is configured (idempotent producer, acks=all)."""
    servers = settings.kafka_bootstrap_servers
    if not servers:
        return None

    def producer() -> Producer:
        return AIOKafkaProducer(  # type: ignore[no-any-return]
            bootstrap_servers=servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
            client_id="omniroute-relay",
        )

    dsn = settings.async_database_url().set(drivername="postgresql")
    config = RelayConfig(
        batch_size=settings.relay_batch_size,
        retention=timedelta(hours=settings.outbox_retention_hours),
    )
    return Relay(dsn.render_as_string(hide_password=False), producer, metrics, config)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_engine(settings)
    store = AttachmentStore(settings.attachment_dir)
    rules = await asyncio.to_thread(RulesHolder, settings.routing_rules_file)
    detector = await asyncio.to_thread(_detector, settings.languages)
    events = EventConfig(
        source=settings.public_base_url,
        routing_topic=settings.kafka_routing_topic,
        customer_topic=settings.kafka_customer_topic,
    )
    app.state.engine, app.state.attachments = engine, store
    app.state.rules, app.state.events = rules, events
    app.state.ingestor = Ingestor(
        engine,
        store,
        IngestPolicy(
            default_region=settings.default_phone_region,
            idle_hours=settings.conversation_idle_hours,
        ),
        Routing(rules=rules, detector=detector, events=events),
    )
    relay = app.state.relay = make_relay(settings, app.state.metrics)
    tasks = [asyncio.create_task(_sweep_idle_forever(app, settings))]
    if relay is not None:
        tasks.append(asyncio.create_task(relay.run()))
    log.info(
        "service.started",
        webhooks_enabled=_enabled_connectors(settings),
        rules_version=rules.rules.version,
        relay=relay is not None,
    )
    try:
        yield
    finally:
        if relay is not None:
            await relay.stop()
        for task in tasks[:1]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()


@functools.lru_cache(maxsize=4)
def _detector(languages: tuple[str, ...]) -> LanguageDetector:
    """Built once per language set (about a second; the model is read-only after)."""
    return LanguageDetector(languages)


def _enabled_connectors(settings: Settings) -> list[str]:
    return [c.name for c in CONNECTORS if settings.secret(c.secret_setting)]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; reads OMNIROUTE_* from the environment only when not given settings."""
    settings = settings if settings is not None else Settings()
    app = FastAPI(
        title="omniroute",
        version="0.1.0",
        lifespan=_lifespan,
        description="Omnichannel message routing: webhooks in, one timeline "
        "per customer out, routing decisions to Kafka.",
    )
    app.state.settings = settings
    app.state.public_base_url = settings.public_base_url
    app.state.metrics = Metrics()
    app.state.relay = None
    problems.install(app)
    for router in (
        webhooks.router,
        customers.router,
        conversations_api.router,
        routing_rules.router,
        attachments.router,
        health.router,
    ):
        app.include_router(router)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        public_base_url=settings.public_base_url,
    )
    app.add_middleware(RequestContext, public_base_url=settings.public_base_url)
    return app
