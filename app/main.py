"""The FastAPI application, built by `create_app` (never at import)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI

from app import conversations
from app.api import attachments, customers, health, problems, webhooks
from app.api import conversations as conversations_api
from app.api.middleware import BodyLimit, RequestContext
from app.attachment_store import AttachmentStore
from app.db import make_engine
from app.ingest import Ingestor, IngestPolicy
from app.settings import Settings
from connectors.registry import CONNECTORS

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


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_engine(settings)
    store = AttachmentStore(settings.attachment_dir)
    app.state.engine = engine
    app.state.attachments = store
    app.state.ingestor = Ingestor(
        engine,
        store,
        IngestPolicy(
            default_region=settings.default_phone_region,
            idle_hours=settings.conversation_idle_hours,
        ),
    )
    sweeper = asyncio.create_task(_sweep_idle_forever(app, settings))
    log.info("service.started", webhooks_enabled=_enabled_connectors(settings))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await engine.dispose()


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
        "per customer out.",
    )
    app.state.settings = settings
    app.state.public_base_url = settings.public_base_url
    problems.install(app)
    for router in (
        webhooks.router,
        customers.router,
        conversations_api.router,
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
