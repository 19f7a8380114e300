"""A conversation's SLA as desktops see it, computed at read time (remaining time
moves with the clock and, for business-hours timers, with the opening hours)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.repositories.sla_timers import StoredTimer
from app.sla.timers import hours_of, pure
from routing import sla
from routing.model import RuleSet, SlaMetric


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerView:
    target_seconds: int
    due_at: datetime | None  # null while paused or once stopped
    remaining_seconds: float  # counted time left (negative once past the target)
    status: str  # active | paused | met | breached
    met_at: datetime | None  # when it was answered or closed
    breached_at: datetime | None  # when its due time passed


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaView:
    policy_id: str
    first_response: TimerView | None
    next_response: TimerView | None
    resolution: TimerView | None


def timer_view(rules: RuleSet, timer: StoredTimer, now: datetime) -> TimerView:
    hours = hours_of(rules, timer)
    state = pure(timer)
    return TimerView(
        target_seconds=timer.target_seconds,
        due_at=timer.due_at if timer.stopped_at is None else None,
        remaining_seconds=round(sla.remaining_seconds(state, hours, now), 3),
        status=sla.status(state, hours, now).value,
        met_at=timer.stopped_at,
        breached_at=timer.breached_at,
    )


def sla_view(
    rules: RuleSet,
    policy_id: str | None,
    timers: Sequence[StoredTimer],
    now: datetime,
) -> SlaView | None:
    """None when no policy ever matched the conversation."""
    if not timers:
        return None
    by_metric = {t.metric: timer_view(rules, t, now) for t in timers}
    return SlaView(
        policy_id=policy_id or timers[0].policy_id,
        first_response=by_metric.get(SlaMetric.first_response.value),
        next_response=by_metric.get(SlaMetric.next_response.value),
        resolution=by_metric.get(SlaMetric.resolution.value),
    )
