"""The FastAPI application, built by `create_app` (never at import): wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from fastapi import FastAPI

from app.api import (
    agents,
    attachments,
    conversations,
    customers,
    health,
    offers,
    openapi,
    problems,
    queues,
    replies,
    routing_rules,
    stats,
    webhooks,
)
from app.api.middleware import BodyLimit, RequestContext
from app.assignment import AgentEventHub, Scheduler, SchedulerConfig
from app.attachment_store import AttachmentStore
from app.db import Database, dsn
from app.dispatch import running_dispatcher
from app.events import EventConfig
from app.ingest import Ingestor, IngestPolicy, Routing
from app.metrics import Metrics
from app.relay import make_relay
from app.rules_state import RulesHolder
from app.settings import Settings
from app.sweeper import sweep_idle_forever
from connectors.registry import CONNECTORS
from routing.language import LanguageDetector

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with contextlib.AsyncExitStack() as stack:
        db = app.state.db = await Database.connect(settings)
        stack.push_async_callback(db.close)
        events = await _build_ingest(app, settings, db)
        dispatcher = app.state.dispatcher = await stack.enter_async_context(
            running_dispatcher(settings, db, events)
        )
        relay = app.state.relay = make_relay(settings, app.state.metrics)
        hub = app.state.agent_events = AgentEventHub(dsn(settings))
        await hub.start()
        stack.push_async_callback(hub.stop)
        scheduler = app.state.scheduler = _scheduler(app, settings, db, events)
        workers = [w for w in (relay, dispatcher, scheduler) if w is not None]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        sweeper = asyncio.create_task(
            sweep_idle_forever(db, settings.conversation_idle_hours)
        )
        if app.state.freeze_gc:
            # What start-up built (imports, models, compiled rules) lives as long as
            # the process: keep it out of the cyclic GC's full collections, which
            # otherwise re-scan ~130k objects and pause the loop for tens of ms.
            gc.collect()
            gc.freeze()
        log.info(
            "service.started",
            webhooks_enabled=[
                c.name for c in CONNECTORS if settings.secret(c.secret_setting)
            ],
            rules_version=app.state.rules.rules.version,
            relay=relay is not None,
            dispatcher=dispatcher is not None,
            scheduler=scheduler is not None,
        )
        try:
            yield
        finally:
            for worker in workers:
                await worker.stop()
            sweeper.cancel()
            await asyncio.gather(sweeper, *tasks, return_exceptions=True)


def _scheduler(
    app: FastAPI, settings: Settings, db: Database, events: EventConfig
) -> Scheduler | None:
    if not settings.assignment_enabled:
        return None
    config = SchedulerConfig(
        offline_grace=timedelta(seconds=settings.offline_grace_seconds)
    )
    return Scheduler(db, settings, app.state.rules, events, app.state.metrics, config)


async def _build_ingest(app: FastAPI, settings: Settings, db: Database) -> EventConfig:
    """Rules, language detector, event names and the ingest unit of work."""
    rules = app.state.rules = await asyncio.to_thread(
        RulesHolder, settings.routing_rules_file
    )
    detector = await asyncio.to_thread(_detector, settings.languages)
    events = app.state.events = EventConfig(
        source=settings.public_base_url,
        routing_topic=settings.kafka_routing_topic,
        customer_topic=settings.kafka_customer_topic,
        message_topic=settings.kafka_message_topic,
        assignment_topic=settings.kafka_assignment_topic,
        agent_topic=settings.kafka_agent_topic,
        sla_topic=settings.kafka_sla_topic,
        csat_topic=settings.kafka_csat_topic,
    )
    store = app.state.attachments = AttachmentStore(settings.attachment_dir)
    app.state.ingestor = Ingestor(
        db,
        store,
        IngestPolicy(
            default_region=settings.default_phone_region,
            idle_hours=settings.conversation_idle_hours,
        ),
        Routing(rules=rules, detector=detector, events=events),
    )
    return events


@functools.lru_cache(maxsize=4)
def _detector(languages: tuple[str, ...]) -> LanguageDetector:
    """Built once per language set (about a second; the model is read-only after)."""
    return LanguageDetector(languages)


def create_app(settings: Settings | None = None, *, freeze_gc: bool = False) -> FastAPI:
    """Build the app; reads OMNIROUTE_* from the environment only when not given settings.

    `freeze_gc` is for the process that serves (one app per process): tests build many.
    """
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
    app.state.freeze_gc = freeze_gc
    problems.install(app)
    openapi.install(app)
    for module in (
        webhooks,
        customers,
        conversations,
        replies,
        agents,
        offers,
        queues,
        stats,
        routing_rules,
        attachments,
        health,
    ):
        app.include_router(module.router)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        public_base_url=settings.public_base_url,
    )
    app.add_middleware(
        RequestContext,
        public_base_url=settings.public_base_url,
        metrics=app.state.metrics,
    )
    return app
