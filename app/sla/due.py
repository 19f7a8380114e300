"""What the scheduler does for SLAs each round: publish the warnings and breaches
that are due, and stop the timers of conversations closed by a sweep or a merge."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.db import Database
from app.events import SLA_WARNING_TYPE, EventConfig, SlaFacts, sla_event
from app.repositories.outbox import Outbox, OutboxRow
from app.repositories.sla_timers import SlaTimers, StoredTimer
from app.sla.timers import after_close, breach_event
from routing.model import RuleSet

BATCH = 500


def _warning(config: EventConfig, timer: StoredTimer) -> OutboxRow:
    facts = SlaFacts(
        conversation_id=timer.conversation_id,
        customer_id=timer.customer_id,
        policy_id=timer.policy_id,
        metric=timer.metric,
        due_at=timer.due_at,
        target_seconds=timer.target_seconds,
        business_hours=timer.business_hours,
    )
    return sla_event(
        config, SLA_WARNING_TYPE, facts, timer.warn_due_at or timer.started_at
    )


def _settle(
    config: EventConfig, timer: StoredTimer, now: datetime
) -> tuple[StoredTimer, list[OutboxRow]]:
    events: list[OutboxRow] = []
    due = timer.due_at is not None and timer.due_at <= now
    if timer.warned_at is None and timer.warn_due_at is not None:
        if timer.warn_due_at <= now and not due:
            events.append(_warning(config, timer))
        if timer.warn_due_at <= now:
            # Both due at once (the scheduler was away): the breach says it all.
            timer = replace(timer, warned_at=now)
    if due and timer.breach_published_at is None:
        timer = replace(timer, breached_at=timer.due_at, breach_published_at=now)
        events.append(breach_event(config, timer, timer.due_at or now))
    return timer, events


async def publish_due(db: Database, config: EventConfig, now: datetime) -> int:
    """Warnings and breaches due by `now`, each once; returns how many published."""
    published = 0
    while True:
        async with db.transaction() as conn:
            repo = SlaTimers(conn)
            due = await repo.due(now, BATCH)
            settled = [_settle(config, t, now) for t in due]
            await repo.save([t for t, _ in settled])
            events = [e for _, found in settled for e in found]
            await Outbox(conn).add_many(events)
        published += len(events)
        if len(due) < BATCH:
            return published


async def stop_closed(db: Database, rules: RuleSet, config: EventConfig) -> int:
    """Timers of conversations closed outside `close` (idle sweep, merge, a newer
    email thread) stop at the close time, as a close by an agent would."""
    stopped = 0
    while True:
        async with db.transaction() as conn:
            closed = await SlaTimers(conn).of_closed(BATCH)
            for conversation_id in dict.fromkeys(c for c, _ in closed):
                closed_at = next(at for c, at in closed if c == conversation_id)
                await after_close(conn, rules, config, conversation_id, closed_at)
        stopped += len(closed)
        if len(closed) < BATCH:
            return stopped
