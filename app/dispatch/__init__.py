"""Replies out: the one active dispatcher per database claims queued sends, calls the
provider, and records what came of it (sent, failed, retry later, or unknown)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from app.db import Database, dsn
from app.dispatch.dispatcher import DispatchConfig, Dispatcher
from app.dispatch.pacing import Pacers
from app.dispatch.senders import make_senders
from app.events import EventConfig
from app.settings import Settings

__all__ = ["DispatchConfig", "Dispatcher", "running_dispatcher"]


@contextlib.asynccontextmanager
async def running_dispatcher(
    settings: Settings,
    db: Database,
    events: EventConfig,
    config: DispatchConfig | None = None,
) -> AsyncIterator[Dispatcher | None]:
    """The dispatcher with its HTTP client, for as long as the app runs (None when
    this replica does not dispatch)."""
    if not settings.dispatch_enabled:
        yield None
        return
    timeout = httpx.Timeout(settings.send_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout) as client:
        rates = {
            name.removeprefix("send_rate_"): float(getattr(settings, name))
            for name in type(settings).model_fields
            if name.startswith("send_rate_")
        }
        dispatcher = Dispatcher(
            db,
            dsn(settings),
            make_senders(settings, client),
            events,
            Pacers(rates),
            config
            or DispatchConfig(
                max_attempts=settings.send_max_attempts,
                concurrency=settings.send_concurrency,
            ),
        )
        yield dispatcher
