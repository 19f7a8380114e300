"""SLA timers follow the conversation: started by the customer's messages, met by
agent replies and the close, paused while pending. Each function runs in the
caller's transaction (the message's, the reply's, the close's), so a timer never
disagrees with what happened."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg

from app.events import SLA_BREACHED_TYPE, EventConfig, SlaFacts, sla_event
from app.metrics import Metrics
from app.repositories.kpis import ClosedConversation, Kpis
from app.repositories.outbox import Outbox, OutboxRow
from app.repositories.sla_timers import SlaTimers, StoredTimer
from app.rules_state import RulesHolder
from routing import sla
from routing.model import (
    BusinessHours,
    Decision,
    Priority,
    RuleSet,
    SlaMetric,
    SlaPolicy,
)

RESPONSES = (SlaMetric.first_response, SlaMetric.next_response)
SURVEY_LATE = timedelta(days=1)  # an older close (say, before an upgrade) gets none


@dataclass(frozen=True, slots=True)
class SlaContext:
    """What a use case outside ingest needs to move timers: the rules in force (their
    opening hours) and where events go."""

    rules: RulesHolder
    events: EventConfig
    metrics: Metrics


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    tags: tuple[str, ...]
    decision: Decision
    at: datetime


def hours_of(rules: RuleSet, timer: StoredTimer) -> BusinessHours | None:
    return rules.business_hours if timer.business_hours else None


def pure(timer: StoredTimer) -> sla.Timer:
    return sla.Timer(
        target_seconds=timer.target_seconds,
        counted=timer.counted_seconds,
        running_since=timer.running_since,
        stopped_at=timer.stopped_at,
        breached_at=timer.breached_at,
    )


def _stored(base: StoredTimer, timer: sla.Timer, rules: RuleSet) -> StoredTimer:
    """`base` with `timer`'s state and the due instants that follow from it."""
    hours = hours_of(rules, base)
    return replace(
        base,
        target_seconds=timer.target_seconds,
        counted_seconds=timer.counted,
        running_since=timer.running_since,
        stopped_at=timer.stopped_at,
        breached_at=timer.breached_at,
        due_at=sla.due_at(timer, hours),
        warn_due_at=sla.warn_due_at(timer, hours, base.warn_at),
    )


def _started(
    rules: RuleSet,
    policy: SlaPolicy,
    metric: SlaMetric,
    msg: Inbound,
) -> StoredTimer | None:
    """A timer of `metric` started by the customer message `msg`."""
    target = policy.target(metric)
    if target is None:
        return None
    base = StoredTimer(
        conversation_id=msg.conversation_id,
        metric=metric.value,
        customer_id=msg.customer_id,
        policy_id=policy.id,
        target_seconds=target,
        business_hours=policy.business_hours,
        warn_at=policy.warn_at,
        started_at=msg.at,
        counted_seconds=0.0,
        running_since=msg.at,
        stopped_at=None,
        breached_at=None,
        due_at=None,
        warn_due_at=None,
        warned_at=None,
        breach_published_at=None,
    )
    return _stored(base, pure(base), rules)


def facts_of(timer: StoredTimer, due_at: datetime | None) -> SlaFacts:
    """What a warning or breach event says about `timer`."""
    return SlaFacts(
        conversation_id=timer.conversation_id,
        customer_id=timer.customer_id,
        policy_id=timer.policy_id,
        metric=timer.metric,
        due_at=due_at,
        target_seconds=timer.target_seconds,
        business_hours=timer.business_hours,
    )


def breach_event(config: EventConfig, timer: StoredTimer, at: datetime) -> OutboxRow:
    facts = facts_of(timer, timer.breached_at or timer.due_at)
    return sla_event(config, SLA_BREACHED_TYPE, facts, at)


def _stop(
    rules: RuleSet, config: EventConfig, timer: StoredTimer, now: datetime
) -> tuple[StoredTimer, OutboxRow | None]:
    """Stopped at `now`; a late stop whose breach was not yet published publishes
    it now, so every breached timer has exactly one breach event."""
    stopped = _stored(timer, sla.stop(pure(timer), hours_of(rules, timer), now), rules)
    if stopped.breached_at is None or stopped.breach_published_at is not None:
        return stopped, None
    stopped = replace(stopped, breach_published_at=now)
    return stopped, breach_event(config, stopped, stopped.breached_at or now)


async def _save(
    conn: asyncpg.Connection, timers: list[StoredTimer], events: list[OutboxRow]
) -> None:
    await SlaTimers(conn).save(timers)
    if events:
        await Outbox(conn).add_many(events)


async def after_inbound(
    conn: asyncpg.Connection, rules: RuleSet, config: EventConfig, msg: Inbound
) -> None:
    """A customer message: it ends `pending`, opens the timers of a new conversation,
    starts a next-response timer once the first response was given or on reopening,
    and re-targets the timers when the routing changed."""
    repo = SlaTimers(conn)
    # One statement: remembers the oldest unanswered message and ends `pending`.
    pending = await Kpis(conn).awaiting(msg.conversation_id, msg.at)
    timers = {t.metric: t for t in await repo.lock_of(msg.conversation_id)}
    if pending is not None:
        for metric, timer in timers.items():
            timers[metric] = _stored(timer, sla.resume(pure(timer), msg.at), rules)
    decision = msg.decision
    policy = rules.sla_policy(
        queue=decision.queue,
        priority=decision.priority,
        channel=msg.channel,
        tags=msg.tags,
    )
    events: list[OutboxRow] = []
    if not timers:  # the conversation opens
        if policy is not None and decision.new_conversation:
            await repo.set_policy(msg.conversation_id, policy.id)
            for metric in (SlaMetric.first_response, SlaMetric.resolution):
                started = _started(rules, policy, metric, msg)
                if started is not None:
                    timers[metric.value] = started
    elif decision.changed and not decision.new_conversation:
        await repo.set_policy(msg.conversation_id, policy.id if policy else None)
        timers, events = _retarget(rules, config, timers, policy, msg.at)
    if policy is not None and _awaits_next_response(timers, decision):
        started = _started(rules, policy, SlaMetric.next_response, msg)
        if started is not None:
            timers[SlaMetric.next_response.value] = started
    await _save(conn, list(timers.values()), events)


async def after_transfer(
    conn: asyncpg.Connection,
    rules: RuleSet,
    config: EventConfig,
    conversation_id: uuid.UUID,
    *,
    queue: str,
    priority: Priority,
    channel: str,
    now: datetime,
) -> None:
    """A transfer moved it to `queue`: the first matching SLA policy anew, its
    targets counting from the original start."""
    repo = SlaTimers(conn)
    timers = {t.metric: t for t in await repo.lock_of(conversation_id)}
    if not timers:
        return
    tags = await repo.customer_tags(conversation_id)
    policy = rules.sla_policy(
        queue=queue, priority=priority, channel=channel, tags=tags
    )
    await repo.set_policy(conversation_id, policy.id if policy else None)
    changed, events = _retarget(rules, config, timers, policy, now)
    await _save(conn, list(changed.values()), events)


def _awaits_next_response(timers: dict[str, StoredTimer], decision: Decision) -> bool:
    """After the first response (or on reopening), an unanswered message starts one."""
    first = timers.get(SlaMetric.first_response.value)
    if first is None or first.stopped_at is None:
        return False
    current = timers.get(SlaMetric.next_response.value)
    return (
        current is None or current.stopped_at is not None or decision.new_conversation
    )


def _retarget(
    rules: RuleSet,
    config: EventConfig,
    timers: dict[str, StoredTimer],
    policy: SlaPolicy | None,
    now: datetime,
) -> tuple[dict[str, StoredTimer], list[OutboxRow]]:
    """The new policy's targets, counting from each timer's original start; a metric
    the new policy does not promise stops (without a breach for time not yet due)."""
    changed: dict[str, StoredTimer] = {}
    events: list[OutboxRow] = []
    for metric, timer in timers.items():
        if timer.stopped_at is not None:
            changed[metric] = timer
            continue
        target = policy.target(SlaMetric(metric)) if policy is not None else None
        if target is None:
            stopped, event = _stop(rules, config, timer, now)
            changed[metric] = stopped
            events.extend([event] if event else [])
            continue
        moved = replace(
            timer,
            policy_id=policy.id if policy else timer.policy_id,
            business_hours=policy.business_hours if policy else timer.business_hours,
            warn_at=policy.warn_at if policy else timer.warn_at,
        )
        changed[metric] = _stored(moved, sla.retarget(pure(timer), target), rules)
    return changed, events


async def after_agent_reply(
    conn: asyncpg.Connection,
    sla_context: SlaContext,
    conversation_id: uuid.UUID,
    agent_id: str,
    now: datetime,
) -> None:
    """An agent's reply meets the first-response and next-response timers and
    answers what the customer was waiting for (a response time for the KPIs)."""
    rules, config = sla_context.rules.rules, sla_context.events
    timers = await SlaTimers(conn).lock_of(conversation_id)
    saved: list[StoredTimer] = []
    events: list[OutboxRow] = []
    held_to: dict[str, tuple[int, bool]] = {}
    for timer in timers:
        if timer.metric in RESPONSES and timer.stopped_at is None:
            stopped, event = _stop(rules, config, timer, now)
            saved.append(stopped)
            events.extend([event] if event else [])
            held_to[timer.metric] = (timer.target_seconds, stopped.breached_at is None)
    await _save(conn, saved, events)
    kpis = Kpis(conn)
    answered = await kpis.answer(conversation_id)
    if answered is None:
        return
    since = answered.awaited_since
    wall = sla.counted_seconds(None, since, now)
    business = sla.counted_seconds(rules.business_hours, since, now)
    metric = SlaMetric.first_response if answered.first else SlaMetric.next_response
    target = held_to.get(metric.value)
    await kpis.add_response(
        conversation_id, answered, now, wall, business, agent_id, target
    )
    if answered.first:
        labels = {"queue": answered.queue or "", "channel": answered.channel or ""}
        sla_context.metrics.first_response.labels(**labels).observe(wall)


async def after_close(
    conn: asyncpg.Connection,
    rules: RuleSet,
    config: EventConfig,
    conversation_id: uuid.UUID,
    now: datetime,
) -> None:
    """In the closing transaction (or the scheduler's, for closes elsewhere): every
    timer stops at the close time (resolution is met, or breached if late), the
    resolution time is recorded and the queue's follow-up survey scheduled."""
    kpis = Kpis(conn)
    closed = await kpis.closed(conversation_id)
    if closed is None:
        return
    at = closed.closed_at
    wall = sla.counted_seconds(None, closed.opened_at, at)
    business = sla.counted_seconds(rules.business_hours, closed.opened_at, at)
    due = _follow_up_due(rules, closed, now)
    await kpis.resolve(conversation_id, wall, business, due)
    timers = await SlaTimers(conn).lock_of(conversation_id)
    saved: list[StoredTimer] = []
    events: list[OutboxRow] = []
    for timer in timers:
        if timer.stopped_at is None:
            stopped, event = _stop(rules, config, timer, at)
            saved.append(stopped)
            events.extend([event] if event else [])
    await _save(conn, saved, events)


def _follow_up_due(
    rules: RuleSet, closed: ClosedConversation, now: datetime
) -> datetime | None:
    """When the queue's survey goes out; None: no survey (none configured, an idle
    close without `on_idle_close`, or a close accounted for over a day late)."""
    if closed.queue is None or closed.closed_at < now - SURVEY_LATE:
        return None
    follow_up = rules.queue_policy(closed.queue).follow_up
    if follow_up is None:
        return None
    if closed.close_reason == "idle" and not follow_up.on_idle_close:
        return None
    return closed.closed_at + timedelta(seconds=follow_up.after_close_seconds)


async def pause_all(
    conn: asyncpg.Connection, rules: RuleSet, conversation_id: uuid.UUID, now: datetime
) -> None:
    timers = await SlaTimers(conn).lock_of(conversation_id)
    paused = [
        _stored(t, sla.pause(pure(t), hours_of(rules, t), now), rules)
        for t in timers
        if t.running_since is not None and t.stopped_at is None
    ]
    await SlaTimers(conn).save(paused)


async def resume_all(
    conn: asyncpg.Connection, rules: RuleSet, conversation_id: uuid.UUID, now: datetime
) -> None:
    timers = await SlaTimers(conn).lock_of(conversation_id)
    resumed = [
        _stored(t, sla.resume(pure(t), now), rules)
        for t in timers
        if t.running_since is None and t.stopped_at is None
    ]
    await SlaTimers(conn).save(resumed)
