"""SLA timers through the API and the scheduler: warnings and breaches exactly once,
at their time, never for what was answered, paused or closed in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import URL

from tests.conftest import AUTH
from tests.sla.conftest import OPEN_DAY, SlaDesk, open_sla_desk


def _at(text: object) -> datetime:
    assert isinstance(text, str)
    return datetime.fromisoformat(text)


async def test_a_new_conversation_gets_its_policy_and_timers(desk: SlaDesk) -> None:
    conversation = await desk.message("v-1")
    shown = await desk.conversation(conversation)
    sla = await desk.sla(conversation)
    assert sla["policy_id"] == "standard"
    first = sla["first_response"]
    assert isinstance(first, dict)
    assert first["status"] == "active"
    assert first["target_seconds"] == 60
    opened = _at(shown["opened_at"])
    assert _at(first["due_at"]) == opened + timedelta(seconds=60)
    assert 0 < first["remaining_seconds"] <= 60
    assert first["met_at"] is None
    assert first["breached_at"] is None
    resolution = sla["resolution"]
    assert isinstance(resolution, dict)
    assert resolution["target_seconds"] == 3600
    assert sla["next_response"] is None  # not before the first response


async def test_warning_then_breach_each_exactly_once(desk: SlaDesk) -> None:
    conversation = await desk.message("v-1")
    await desk.tick(after_seconds=10)
    assert await desk.events() == []
    await desk.tick(after_seconds=31)  # warn_at 0.5 of 60 s
    await desk.tick(after_seconds=45)
    [(kind, data)] = await desk.events()
    assert kind == "omniroute.sla.warning.v1"
    assert data["metric"] == "first_response"
    assert data["conversation_id"] == str(conversation)
    assert data["policy_id"] == "standard"
    assert data["target_seconds"] == 60
    assert data["business_hours"] is False
    await desk.tick(after_seconds=61)
    await desk.tick(after_seconds=90)
    kinds = [(k, d["metric"]) for k, d in await desk.events()]
    assert kinds == [
        ("omniroute.sla.warning.v1", "first_response"),
        ("omniroute.sla.breached.v1", "first_response"),
    ]
    first = (await desk.sla(conversation))["first_response"]
    assert isinstance(first, dict)
    assert first["status"] == "breached"
    assert first["breached_at"] == first["due_at"]


async def test_answered_in_time_never_warns_or_breaches(desk: SlaDesk) -> None:
    conversation = await desk.message("v-1")
    await desk.reply(conversation)
    for seconds in (31, 61, 600):
        await desk.tick(after_seconds=seconds)
    assert [k for k, d in await desk.events() if d["metric"] != "resolution"] == []
    first = (await desk.sla(conversation))["first_response"]
    assert isinstance(first, dict)
    assert first["status"] == "met"
    assert first["met_at"] is not None
    assert first["due_at"] is None


async def test_answered_late_breaches_once(desk: SlaDesk) -> None:
    conversation = await desk.message("v-1")
    await desk.tick(after_seconds=61)  # breach published
    await desk.reply(conversation)
    await desk.tick(after_seconds=120)
    breaches = [
        d["metric"] for k, d in await desk.events() if k.endswith("breached.v1")
    ]
    assert breaches == ["first_response"]
    first = (await desk.sla(conversation))["first_response"]
    assert isinstance(first, dict)
    assert first["status"] == "breached"
    assert first["met_at"] is not None


async def test_next_response_runs_from_the_oldest_unanswered_message(
    desk: SlaDesk,
) -> None:
    conversation = await desk.message("v-1")
    await desk.reply(conversation)
    await desk.message("v-1", "one more question")
    started = await desk.sla(conversation)
    await desk.message("v-1", "and another")  # the oldest unanswered one counts
    later = await desk.sla(conversation)
    assert isinstance(started["next_response"], dict)
    assert isinstance(later["next_response"], dict)
    assert later["next_response"]["due_at"] == started["next_response"]["due_at"]
    assert later["next_response"]["target_seconds"] == 120
    await desk.reply(conversation)
    after = (await desk.sla(conversation))["next_response"]
    assert isinstance(after, dict)
    assert after["status"] == "met"
    await desk.message("v-1", "thanks, one last thing")  # a new cycle
    again = (await desk.sla(conversation))["next_response"]
    assert isinstance(again, dict)
    assert again["status"] == "active"
    assert _at(again["due_at"]) > _at(started["next_response"]["due_at"])


async def test_pending_pauses_every_timer_until_the_customer_writes(
    desk: SlaDesk,
) -> None:
    conversation = await desk.message("v-1")
    r = await desk.client.post(
        f"/v1/conversations/{conversation}/pending", headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    first = r.json()["sla"]["first_response"]
    assert first["status"] == "paused"
    assert first["due_at"] is None
    await desk.tick(after_seconds=600)
    assert await desk.events() == []
    paused_left = first["remaining_seconds"]

    await desk.message("v-1", "here is the information")
    shown = await desk.conversation(conversation)
    assert shown["status"] == "open"
    assert shown["pending_since"] is None
    resumed = (await desk.sla(conversation))["first_response"]
    assert isinstance(resumed, dict)
    assert resumed["status"] == "active"
    assert resumed["remaining_seconds"] <= paused_left
    assert resumed["remaining_seconds"] > paused_left - 5  # the pause did not count


async def test_pending_is_cleared_by_an_agent_and_refused_when_closed(
    desk: SlaDesk,
) -> None:
    conversation = await desk.message("v-1")
    url = f"/v1/conversations/{conversation}/pending"
    assert (await desk.client.post(url, headers=AUTH)).status_code == 200
    r = await desk.client.delete(url, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["status"] == "open"
    assert r.json()["sla"]["first_response"]["status"] == "active"
    await desk.client.post(f"/v1/conversations/{conversation}/close", headers=AUTH)
    r = await desk.client.post(url, headers=AUTH)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"


async def test_closing_stops_every_timer(desk: SlaDesk) -> None:
    conversation = await desk.message("v-1")
    r = await desk.client.post(f"/v1/conversations/{conversation}/close", headers=AUTH)
    assert r.status_code == 200
    sla = r.json()["sla"]
    assert sla["resolution"]["status"] == "met"
    assert sla["first_response"]["status"] == "met"  # closed in time
    for seconds in (31, 61, 7200):
        await desk.tick(after_seconds=seconds)
    assert await desk.events() == []


async def test_a_higher_priority_retargets_from_the_original_start(
    desk: SlaDesk,
) -> None:
    conversation = await desk.message("v-1")
    opened = _at((await desk.conversation(conversation))["opened_at"])
    await desk.message("v-1", "now there is an outage")  # priority becomes urgent
    sla = await desk.sla(conversation)
    assert sla["policy_id"] == "urgent"
    first = sla["first_response"]
    assert isinstance(first, dict)
    assert first["target_seconds"] == 20
    assert abs((_at(first["due_at"]) - opened).total_seconds() - 20) < 0.01
    resolution = sla["resolution"]  # the urgent policy promises no resolution time
    assert isinstance(resolution, dict)
    assert resolution["status"] == "met"
    await desk.tick(after_seconds=21)
    kinds = [(k, d["policy_id"]) for k, d in await desk.events()]
    assert kinds == [("omniroute.sla.breached.v1", "urgent")]


async def test_business_hours_timers_come_due_inside_the_hours(desk: SlaDesk) -> None:
    conversation = await desk.message("v-1", "a question for the office")
    sla = await desk.sla(conversation)
    assert sla["policy_id"] == "office-hours"
    first = sla["first_response"]
    assert isinstance(first, dict)
    # Open only 09:00-10:00 UTC on OPEN_DAY: 30 minutes in is 09:30 that day.
    assert _at(first["due_at"]) == datetime(
        OPEN_DAY.year, OPEN_DAY.month, OPEN_DAY.day, 9, 30, tzinfo=UTC
    )
    assert first["remaining_seconds"] == 1800  # nothing counted outside the hours
    await desk.tick(after_seconds=86400)  # a day later: still closed, nothing due
    assert await desk.events() == []


async def test_a_restart_keeps_timers_and_publishes_each_event_once(
    database_url: URL, tmp_path: Path, engine: object
) -> None:
    async with open_sla_desk(database_url, tmp_path) as desk:
        conversation = await desk.message("v-1")
        await desk.tick(after_seconds=31)
        assert [k for k, _ in await desk.events()] == ["omniroute.sla.warning.v1"]

    async with open_sla_desk(database_url, tmp_path) as desk:
        await desk.tick(after_seconds=40)
        assert [k for k, _ in await desk.events()] == ["omniroute.sla.warning.v1"]
        await desk.tick(after_seconds=61)
        await desk.tick(after_seconds=62)
        assert [k for k, _ in await desk.events()] == [
            "omniroute.sla.warning.v1",
            "omniroute.sla.breached.v1",
        ]
        first = (await desk.sla(conversation))["first_response"]
        assert isinstance(first, dict)
        assert first["status"] == "breached"


async def test_a_conversation_closed_by_the_idle_sweep_stops_its_timers(
    desk: SlaDesk,
) -> None:
    conversation = await desk.message("v-1")
    async with desk.app.state.db.transaction() as conn:
        await conn.execute(
            "UPDATE conversations SET status = 'closed', closed_at = now(),"
            " close_reason = 'idle' WHERE id = $1",
            conversation,
        )
    await desk.tick(after_seconds=61)
    assert await desk.events() == []
    sla = await desk.sla(conversation)
    assert isinstance(sla["resolution"], dict)
    assert sla["resolution"]["status"] == "met"


async def test_a_transfer_to_another_queue_re_evaluates_the_policy(
    desk: SlaDesk,
) -> None:
    conversation = await desk.message("v-1")
    assert (await desk.sla(conversation))["policy_id"] == "standard"
    r = await desk.client.post(
        f"/v1/conversations/{conversation}/transfer",
        json={"queue": "office"},
        headers=AUTH,
    )
    assert r.status_code == 202, r.text
    sla = await desk.sla(conversation)
    assert sla["policy_id"] == "office-hours"
    first = sla["first_response"]
    assert isinstance(first, dict)
    assert first["target_seconds"] == 1800
    assert _at(first["due_at"]) == datetime(
        OPEN_DAY.year, OPEN_DAY.month, OPEN_DAY.day, 9, 30, tzinfo=UTC
    )
    resolution = sla["resolution"]  # office-hours promises no resolution time
    assert isinstance(resolution, dict)
    assert resolution["status"] == "met"
