"""SLA timer arithmetic: pure functions over instants, opening hours and a timer's
counted time. app/ stores timers and acts on the instants these functions compute.

A timer counts time while it runs (wall time, or only time inside opening hours),
keeps what it counted when paused, and resumes from there; its due time is where
the remaining target lands on that clock. Changing the target (a new policy) keeps
the counted time, so targets count from the original start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from routing.model import BusinessHours

# Opening hours that never open would make a business-hours timer search forever.
SEARCH_DAYS = 2 * 366


class TimerStatus(StrEnum):
    active = "active"
    paused = "paused"
    met = "met"
    breached = "breached"


def _instant(day: date, minute: int, hours: BusinessHours) -> datetime:
    """Local `day` + `minute` (1440 is the next midnight) as an aware UTC instant."""
    local = datetime.combine(day, time()) + timedelta(minutes=minute)
    return local.replace(tzinfo=hours.zone).astimezone(UTC)


def open_intervals(
    hours: BusinessHours, start: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Opening intervals from `start` on, in order, clipped to `start`, never
    overlapping (UTC). Stops after SEARCH_DAYS local days."""
    day = start.astimezone(hours.zone).date() - timedelta(days=1)
    floor = start.astimezone(UTC)
    for _ in range(SEARCH_DAYS):
        if day not in hours.holidays:
            for first, last in sorted(hours.weekly[day.weekday()]):
                low = max(_instant(day, first, hours), floor)
                high = _instant(day, last, hours)
                if high > low:
                    yield low, high
                    floor = high
        day += timedelta(days=1)


def counted_seconds(
    hours: BusinessHours | None, start: datetime, end: datetime
) -> float:
    """Time between `start` and `end` that counts: all of it, or the open part."""
    if end <= start:
        return 0.0
    if hours is None:
        # In UTC: aware datetimes sharing a tzinfo subtract as wall-clock times.
        return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
    total = 0.0
    for low, high in open_intervals(hours, start):
        if low >= end:
            break
        total += (min(high, end) - low).total_seconds()
    return total


def advance(
    hours: BusinessHours | None, start: datetime, seconds: float
) -> datetime | None:
    """The instant at which `seconds` of counted time have passed since `start`
    (None: the opening hours never give that much)."""
    start = start.astimezone(UTC)  # aware + timedelta is wall-clock arithmetic
    if seconds <= 0:
        return start
    if hours is None:
        return start + timedelta(seconds=seconds)
    left = seconds
    for low, high in open_intervals(hours, start):
        span = (high - low).total_seconds()
        if left <= span:
            return low + timedelta(seconds=left)
        left -= span
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Timer:
    """One metric's timer. `counted` is the time counted before `running_since`;
    a timer that is not running and not stopped is paused."""

    target_seconds: int
    counted: float = 0.0
    running_since: datetime | None = None
    stopped_at: datetime | None = None  # met (answered, closed) or stopped
    breached_at: datetime | None = None  # when its due time passed while running

    @property
    def running(self) -> bool:
        return self.running_since is not None


def start(target_seconds: int, now: datetime) -> Timer:
    return Timer(target_seconds=target_seconds, running_since=now)


def counted_at(timer: Timer, hours: BusinessHours | None, now: datetime) -> float:
    """Counted time up to `now`."""
    if timer.running_since is None:
        return timer.counted
    return timer.counted + counted_seconds(hours, timer.running_since, now)


def pause(timer: Timer, hours: BusinessHours | None, now: datetime) -> Timer:
    if timer.running_since is None:
        return timer
    return replace(timer, counted=counted_at(timer, hours, now), running_since=None)


def resume(timer: Timer, now: datetime) -> Timer:
    if timer.running or timer.stopped_at is not None:
        return timer
    return replace(timer, running_since=now)


def stop(timer: Timer, hours: BusinessHours | None, now: datetime) -> Timer:
    """Answered or closed: it counts no more, and keeps whether it was in time."""
    if timer.stopped_at is not None:
        return timer
    paused = pause(timer, hours, now)
    breached = timer.breached_at
    if breached is None and paused.counted > timer.target_seconds:
        breached = due_at(timer, hours)
    return replace(paused, stopped_at=now, breached_at=breached)


def retarget(timer: Timer, target_seconds: int) -> Timer:
    """A new policy's target, counting from the original start."""
    return replace(timer, target_seconds=target_seconds)


def due_at(timer: Timer, hours: BusinessHours | None) -> datetime | None:
    """When a running timer reaches its target (None when paused or stopped)."""
    if timer.running_since is None:
        return None
    return advance(hours, timer.running_since, timer.target_seconds - timer.counted)


def warn_due_at(
    timer: Timer, hours: BusinessHours | None, warn_at: float
) -> datetime | None:
    """When `warn_at` of the target has been counted (None when not running)."""
    if timer.running_since is None:
        return None
    share = timer.target_seconds * warn_at - timer.counted
    return advance(hours, timer.running_since, share)


def remaining_seconds(
    timer: Timer, hours: BusinessHours | None, now: datetime
) -> float:
    """Counted time left before the target (negative once past it)."""
    return timer.target_seconds - counted_at(timer, hours, now)


def status(timer: Timer, hours: BusinessHours | None, now: datetime) -> TimerStatus:
    if timer.stopped_at is not None:
        return TimerStatus.breached if timer.breached_at else TimerStatus.met
    if timer.breached_at is not None or remaining_seconds(timer, hours, now) <= 0:
        return TimerStatus.breached
    return TimerStatus.active if timer.running else TimerStatus.paused
