"""The idle sweeper: closes idle conversations on time (the next message would too)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from app.db import Database
from app.desk import conversations

log = structlog.get_logger(__name__)
IDLE_SWEEP_SECONDS = 60.0


async def sweep_idle_forever(db: Database, idle_hours: int) -> None:
    while True:
        await asyncio.sleep(IDLE_SWEEP_SECONDS)
        try:
            closed = await conversations.sweep_idle(db, idle_hours, datetime.now(UTC))
        except Exception:  # keep sweeping; the next message closes lazily anyway
            log.warning("conversations.sweep_failed", exc_info=True)
            continue
        if closed:
            log.info("conversations.closed_idle", count=closed)
