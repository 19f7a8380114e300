"""What the scheduler does for SLAs each round: publish the warnings and breaches
that are due, and stop the timers of conversations closed by a sweep or a merge."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.db import Database
from app.events import SLA_WARNING_TYPE, EventConfig, sla_event
from app.metrics import Metrics
from app.repositories.kpis import Kpis
from app.repositories.outbox import Outbox, OutboxRow
from app.repositories.sla_timers import SlaTimers, StoredTimer
from app.sla.timers import after_close, breach_event, facts_of
from routing.model import RuleSet

BATCH = 500


def _warning(config: EventConfig, timer: StoredTimer) -> OutboxRow:
    at = timer.warn_due_at or timer.started_at
    return sla_event(config, SLA_WARNING_TYPE, facts_of(timer, timer.due_at), at)


def _settle(
    config: EventConfig, timer: StoredTimer, now: datetime
) -> tuple[StoredTimer, list[tuple[str, OutboxRow]]]:
    """The timer after what is due by `now`, and its events by kind."""
    events: list[tuple[str, OutboxRow]] = []
    due = timer.due_at is not None and timer.due_at <= now
    if timer.warned_at is None and timer.warn_due_at is not None:
        if timer.warn_due_at <= now and not due:
            events.append(("warning", _warning(config, timer)))
        if timer.warn_due_at <= now:
            # Both due at once (the scheduler was away): the breach says it all.
            timer = replace(timer, warned_at=now)
    if due and timer.breach_published_at is None:
        timer = replace(timer, breached_at=timer.due_at, breach_published_at=now)
        events.append(("breach", breach_event(config, timer, timer.due_at or now)))
    return timer, events


async def publish_due(
    db: Database, config: EventConfig, metrics: Metrics, now: datetime
) -> int:
    """Warnings and breaches due by `now`, each once; returns how many published."""
    published = 0
    while True:
        async with db.transaction() as conn:
            repo = SlaTimers(conn)
            due = await repo.due(now, BATCH)
            settled = [_settle(config, t, now) for t in due]
            await repo.save([t for t, _ in settled])
            events = [e for _, found in settled for _, e in found]
            await Outbox(conn).add_many(events)
        published += len(events)
        for timer, found in settled:  # counted once committed
            for kind, _ in found:
                counter = (
                    metrics.sla_warnings if kind == "warning" else metrics.sla_breaches
                )
                counter.labels(metric=timer.metric).inc()
        if len(due) < BATCH:
            return published


async def settle_closed(
    db: Database, rules: RuleSet, config: EventConfig, now: datetime
) -> int:
    """Conversations closed outside `close` (idle sweep, merge, a newer email
    thread, a close before this version) are accounted for as an agent's close
    would be: timers stopped at the close time, resolution time, follow-up."""
    settled = 0
    while True:
        async with db.transaction() as conn:
            closed = await Kpis(conn).unresolved(BATCH)
            for conversation_id in closed:
                await after_close(conn, rules, config, conversation_id, now)
        settled += len(closed)
        if len(closed) < BATCH:
            return settled
