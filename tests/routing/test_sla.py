"""SLA timer arithmetic with a controllable clock: opening hours with split days,
holidays, DST changes, pause and resume, reopen, policy change; and the sla block."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing import sla
from routing.model import BusinessHours, Priority, SlaMetric
from routing.rules import RulesError, load_rules

BERLIN = ZoneInfo("Europe/Berlin")
SPLIT = ((9 * 60, 12 * 60), (13 * 60, 17 * 60))  # 09-12, 13-17
OFFICE = BusinessHours(
    zone=BERLIN,
    weekly=(SPLIT, SPLIT, SPLIT, SPLIT, SPLIT, (), ()),
    holidays=frozenset({date(2026, 12, 25)}),
)
ALWAYS = BusinessHours(zone=BERLIN, weekly=(((0, 1440),),) * 7)
NIGHT_SUNDAY = BusinessHours(zone=BERLIN, weekly=((), (), (), (), (), (), ((60, 240),)))
NEVER = BusinessHours(zone=BERLIN, weekly=((),) * 7)


def local(text: str) -> datetime:
    """'2026-12-07 09:00' in Berlin, as an aware instant."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


# 2026-12-07 is a Monday; 2026-12-25 (Friday) is a holiday.
ADVANCE = [
    ("wall clock", None, "2026-12-05 23:30", 3600, "2026-12-06 00:30"),
    ("inside a range", OFFICE, "2026-12-07 09:00", 1800, "2026-12-07 09:30"),
    ("over the lunch break", OFFICE, "2026-12-07 11:30", 3600, "2026-12-07 13:30"),
    ("ends exactly at closing", OFFICE, "2026-12-07 16:00", 3600, "2026-12-07 17:00"),
    ("over the weekend", OFFICE, "2026-12-11 16:30", 3600, "2026-12-14 09:30"),
    ("starts before opening", OFFICE, "2026-12-07 06:00", 600, "2026-12-07 09:10"),
    ("starts on a saturday", OFFICE, "2026-12-12 10:00", 600, "2026-12-14 09:10"),
    ("over a holiday", OFFICE, "2026-12-24 16:30", 3600, "2026-12-28 09:30"),
    ("two whole days", OFFICE, "2026-12-07 09:00", 14 * 3600, "2026-12-08 17:00"),
    ("zero target", OFFICE, "2026-12-12 10:00", 0, "2026-12-12 10:00"),
    # 2026-03-29: Berlin springs forward at 02:00 (a 23-hour day).
    ("spring forward, wall", None, "2026-03-28 12:00", 24 * 3600, "2026-03-29 13:00"),
    ("spring forward, 24/7", ALWAYS, "2026-03-28 12:00", 23 * 3600, "2026-03-29 12:00"),
    # 01:00-04:00 local that night is two real hours.
    ("spring night", NIGHT_SUNDAY, "2026-03-29 00:00", 2 * 3600, "2026-03-29 04:00"),
    # 2026-10-25: back at 03:00 to 02:00; 01:00-04:00 local is four real hours.
    ("autumn night", NIGHT_SUNDAY, "2026-10-25 00:00", 4 * 3600, "2026-10-25 04:00"),
]


@pytest.mark.parametrize(
    ("hours", "start", "seconds", "due"),
    [case[1:] for case in ADVANCE],
    ids=[case[0] for case in ADVANCE],
)
def test_advance(
    hours: BusinessHours | None, start: str, seconds: int, due: str
) -> None:
    assert sla.advance(hours, local(start), seconds) == local(due)
    # counted_seconds is its inverse over the same span
    assert sla.counted_seconds(hours, local(start), local(due)) == seconds


COUNTED = [
    ("closed all day", OFFICE, "2026-12-12 00:00", "2026-12-13 23:59", 0),
    ("a working day", OFFICE, "2026-12-07 00:00", "2026-12-08 00:00", 7 * 3600),
    ("a week", OFFICE, "2026-12-07 00:00", "2026-12-14 00:00", 35 * 3600),
    ("holiday week", OFFICE, "2026-12-21 00:00", "2026-12-28 00:00", 28 * 3600),
    ("lunch only", OFFICE, "2026-12-07 12:00", "2026-12-07 13:00", 0),
    ("end before start", OFFICE, "2026-12-07 12:00", "2026-12-07 10:00", 0),
    ("autumn 24/7 day", ALWAYS, "2026-10-25 00:00", "2026-10-26 00:00", 25 * 3600),
]


@pytest.mark.parametrize(
    ("hours", "start", "end", "seconds"),
    [case[1:] for case in COUNTED],
    ids=[case[0] for case in COUNTED],
)
def test_counted_seconds(
    hours: BusinessHours, start: str, end: str, seconds: int
) -> None:
    assert sla.counted_seconds(hours, local(start), local(end)) == seconds


def test_hours_that_never_open_never_come_due() -> None:
    assert sla.advance(NEVER, local("2026-12-07 09:00"), 60) is None
    timer = sla.start(60, local("2026-12-07 09:00"))
    assert sla.due_at(timer, NEVER) is None
    assert sla.status(timer, NEVER, local("2027-12-07 09:00")) is sla.TimerStatus.active


def test_pause_keeps_counted_time_and_resume_continues() -> None:
    timer = sla.start(1800, local("2026-12-07 09:00"))
    assert sla.due_at(timer, OFFICE) == local("2026-12-07 09:30")
    timer = sla.pause(timer, OFFICE, local("2026-12-07 09:10"))
    assert timer.counted == 600
    assert sla.due_at(timer, OFFICE) is None
    assert (
        sla.status(timer, OFFICE, local("2026-12-07 11:00")) is sla.TimerStatus.paused
    )
    assert sla.remaining_seconds(timer, OFFICE, local("2026-12-07 11:00")) == 1200
    timer = sla.resume(timer, local("2026-12-07 10:00"))
    assert sla.due_at(timer, OFFICE) == local("2026-12-07 10:20")
    assert (
        sla.status(timer, OFFICE, local("2026-12-07 10:19")) is sla.TimerStatus.active
    )
    assert (
        sla.status(timer, OFFICE, local("2026-12-07 10:20")) is sla.TimerStatus.breached
    )


def test_resumed_after_hours_counts_from_the_next_opening() -> None:
    timer = sla.start(3600, local("2026-12-11 16:00"))  # Friday
    timer = sla.pause(timer, OFFICE, local("2026-12-11 16:30"))
    timer = sla.resume(timer, local("2026-12-12 11:00"))  # Saturday: nothing counts
    assert sla.due_at(timer, OFFICE) == local("2026-12-14 09:30")


def test_warning_comes_at_its_share_of_business_time() -> None:
    timer = sla.start(3600, local("2026-12-11 16:30"))
    # 48 of 60 minutes: 30 on Friday, 18 on Monday morning, never at the weekend.
    assert sla.warn_due_at(timer, OFFICE, 0.8) == local("2026-12-14 09:18")
    paused = sla.pause(timer, OFFICE, local("2026-12-11 17:00"))
    assert sla.warn_due_at(paused, OFFICE, 0.8) is None
    late = sla.resume(
        sla.pause(timer, OFFICE, local("2026-12-14 09:20")), local("2026-12-14 10:00")
    )
    assert sla.warn_due_at(late, OFFICE, 0.8) == local(
        "2026-12-14 10:00"
    )  # already due


def test_stop_in_time_is_met_and_late_is_breached_at_the_due_time() -> None:
    timer = sla.start(1800, local("2026-12-07 09:00"))
    met = sla.stop(timer, OFFICE, local("2026-12-07 09:29"))
    assert sla.status(met, OFFICE, local("2026-12-08 09:00")) is sla.TimerStatus.met
    assert met.breached_at is None
    assert met.stopped_at == local("2026-12-07 09:29")
    late = sla.stop(timer, OFFICE, local("2026-12-07 13:05"))
    assert (
        sla.status(late, OFFICE, local("2026-12-08 09:00")) is sla.TimerStatus.breached
    )
    assert late.breached_at == local("2026-12-07 09:30")
    # Stopped timers count no more and do not restart.
    assert sla.resume(late, local("2026-12-08 09:00")) == late
    assert sla.stop(late, OFFICE, local("2026-12-09 09:00")) == late


def test_a_new_policy_counts_from_the_original_start() -> None:
    timer = sla.start(3600, local("2026-12-07 09:00"))
    shorter = sla.retarget(timer, 900)
    assert sla.due_at(shorter, OFFICE) == local("2026-12-07 09:15")
    assert (
        sla.status(shorter, OFFICE, local("2026-12-07 09:30"))
        is sla.TimerStatus.breached
    )
    longer = sla.retarget(sla.pause(timer, OFFICE, local("2026-12-07 09:30")), 7200)
    longer = sla.resume(longer, local("2026-12-07 09:30"))
    assert sla.due_at(longer, OFFICE) == local("2026-12-07 11:00")


def test_reopening_starts_a_fresh_next_response_timer() -> None:
    closed = sla.stop(
        sla.start(600, local("2026-12-07 09:00")), OFFICE, local("2026-12-07 09:05")
    )
    reopened = sla.start(600, local("2026-12-08 10:00"))
    assert sla.status(closed, OFFICE, local("2026-12-08 10:00")) is sla.TimerStatus.met
    assert sla.due_at(reopened, OFFICE) == local("2026-12-08 10:10")


def test_intervals_are_in_order_and_never_overlap() -> None:
    overlapping = BusinessHours(
        zone=BERLIN, weekly=(((540, 720), (600, 780), (900, 960)),) * 7
    )
    start = local("2026-12-07 10:00")
    found = []
    for low, high in sla.open_intervals(overlapping, start):
        found.append((low, high))
        if len(found) == 3:
            break
    assert found[0] == (start, local("2026-12-07 12:00"))
    assert found[1] == (local("2026-12-07 12:00"), local("2026-12-07 13:00"))
    assert found[2] == (local("2026-12-07 15:00"), local("2026-12-07 16:00"))
    assert all(low.tzinfo is UTC for low, _ in found)
    assert (
        sla.counted_seconds(
            overlapping, local("2026-12-07 09:00"), local("2026-12-07 14:00")
        )
        == 4 * 3600
    )


SLA_RULES = """
business_hours:
  timezone: Europe/Berlin
  weekly: {mon: ["09:00-12:00", "13:00-17:00"], fri: ["09:00-12:00"]}
rules: []
default: {queue: general}
sla:
  - id: vip
    when: {customer_tags_any: [vip]}
    first_response: 90s
    next_response: 15m
    warn_at: 0.5
  - id: urgent-chat
    when: {priority: [urgent, high], channel: chat}
    first_response: 2m
    resolution: 4h
    business_hours: true
  - id: email
    when: {channel: email}
    first_response: 2d
  - id: everything
    first_response: 1h
"""


def test_the_sla_block_compiles_and_the_first_match_applies() -> None:
    rules = load_rules(SLA_RULES.encode())
    assert [p.id for p in rules.sla] == ["vip", "urgent-chat", "email", "everything"]
    vip, urgent, email, everything = rules.sla
    assert (vip.first_response, vip.next_response, vip.resolution) == (90, 900, None)
    assert vip.warn_at == 0.5
    assert urgent.business_hours
    assert urgent.target(SlaMetric.resolution) == 4 * 3600
    assert email.first_response == 2 * 86400
    assert everything.warn_at == 0.8
    assert rules.business_hours is not None
    assert rules.business_hours.weekly[4] == ((540, 720),)

    def chosen(queue: str, priority: Priority, channel: str, *tags: str) -> str | None:
        found = rules.sla_policy(
            queue=queue, priority=priority, channel=channel, tags=tags
        )
        return found.id if found else None

    assert chosen("general", Priority.low, "email", "vip") == "vip"
    assert chosen("general", Priority.urgent, "chat") == "urgent-chat"
    assert chosen("general", Priority.normal, "chat") == "everything"
    assert chosen("general", Priority.high, "email") == "email"
    assert (
        load_rules(b"rules: []\ndefault: {queue: q}\n").sla_policy(
            queue="q", priority=Priority.normal, channel="sms", tags=()
        )
        is None
    )


BAD_SLA = [
    ("bad duration", "  - id: a\n    first_response: 15 minutes\n", 10, "duration"),
    ("zero", "  - id: a\n    first_response: 0s\n", 10, "between 1s"),
    ("too long", "  - id: a\n    first_response: 400d\n", 10, "between 1s"),
    ("no first response", "  - id: a\n    resolution: 1h\n", 9, "first_response"),
    (
        "warn_at 1",
        "  - id: a\n    first_response: 1m\n    warn_at: 1\n",
        11,
        "less than 1",
    ),
    (
        "unknown field",
        "  - id: a\n    first_response: 1m\n    breach: 1\n",
        11,
        "breach",
    ),
    (
        "unknown priority",
        "  - id: a\n    when: {priority: asap}\n    first_response: 1m\n",
        10,
        "asap",
    ),
    (
        "business hours missing",
        "  - id: a\n    first_response: 1m\n    business_hours: true\n",
        11,
        "business_hours block",
    ),
    (
        "duplicate id",
        "  - id: a\n    first_response: 1m\n  - id: a\n    first_response: 2m\n",
        11,
        "duplicate SLA policy id 'a' (first used on line 9)",
    ),
]


@pytest.mark.parametrize(
    ("block", "line", "text"),
    [case[1:] for case in BAD_SLA],
    ids=[case[0] for case in BAD_SLA],
)
def test_a_bad_sla_block_is_refused_with_its_line(
    block: str, line: int, text: str
) -> None:
    source = f"""# an sla block
rules:
  - id: r
    when: {{channel: sms}}
    then: {{queue: sms}}
default:
  queue: general
sla:
{block}"""
    with pytest.raises(RulesError) as caught:
        load_rules(source.encode())
    assert caught.value.line == line, str(caught.value)
    assert text in str(caught.value)


def test_business_hours_that_never_open_are_refused_for_an_sla() -> None:
    source = b"""business_hours: {timezone: UTC, weekly: {}}
rules: []
default: {queue: general}
sla:
  - id: a
    first_response: 1m
    business_hours: true
"""
    with pytest.raises(RulesError, match="never opens") as caught:
        load_rules(source)
    assert caught.value.line == 7


def test_wall_time_is_utc_arithmetic() -> None:
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert sla.advance(None, start, 7200) == start + timedelta(hours=2)
