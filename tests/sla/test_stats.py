"""GET /v1/stats on a seeded week, checked against figures computed by hand
(percentile_cont interpolates: p90 of n sorted values sits at 0.9 * (n - 1))."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import AUTH
from tests.sla.conftest import SlaDesk

A, B, C, D = (uuid.uuid4() for _ in range(4))
C1, C2, C3, C4, C5, OLD = (uuid.uuid4() for _ in range(6))
WEEK = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


CONVERSATIONS: list[tuple[Any, ...]] = [
    # id, customer, queue, channel, opened, closed, reopened, resolution s,
    # business s, csat, survey sent (asking a rating)
    (C1, A, "support", "chat", at(2, 9), at(2, 10), 0, 3600, 1000, 5, True),
    (C2, B, "support", "sms", at(3, 9), at(3, 11), 0, 7200, 2000, 3, True),
    (C3, C, "billing", "chat", at(4, 9), at(4, 9, 30), 1, 1800, 3000, None, True),
    (C4, D, "billing", "chat", at(5, 9), None, 0, None, None, None, False),
    (C5, A, "support", "chat", at(2, 15), at(2, 16), 0, 3600, 4000, None, False),
    (
        OLD,
        B,
        "support",
        "sms",
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 10, 2, tzinfo=UTC),
        0,
        86400,
        86400,
        1,
        True,
    ),
]
RESPONSES = [
    # conversation, kind, seconds, target, within
    (C1, "first", 60, 120, True),
    (C2, "first", 180, 120, False),
    (C3, "first", 30, 120, True),
    (C4, "first", 90, None, None),
    (C5, "first", 120, 120, True),
    (C1, "next", 300, None, None),
    (C2, "next", 100, None, None),
    (OLD, "first", 5000, 60, False),
]
STEPS = [
    (C1, at(2, 9, 5), "accepted", "alice"),
    (C2, at(3, 9, 10), "accepted", "bob"),
    (C2, at(3, 10), "transferred", "bob"),
    (C2, at(3, 10, 5), "accepted", "alice"),
    (C3, at(4, 9), "assigned", "alice"),
    (C4, at(5, 9, 1), "accepted", "bob"),
    (C5, at(2, 15, 10), "accepted", "bob"),
    (C5, at(2, 15, 40), "released", "bob"),
]
TIMERS = [
    # conversation, metric, stopped, breached
    (C1, "first_response", at(2, 9, 1), None),
    (C2, "first_response", at(3, 9, 3), at(3, 9, 2)),
    (C3, "first_response", at(4, 9, 0), None),
    (C4, "first_response", None, None),  # still running: not counted
    (C1, "resolution", at(2, 10), None),
    (C2, "resolution", at(3, 11), at(3, 10)),
]


@pytest.fixture
async def seeded(desk: SlaDesk) -> SlaDesk:
    async with desk.app.state.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO customers (id) VALUES ($1)", [(c,) for c in (A, B, C, D)]
        )
        for (
            cid,
            customer,
            queue,
            channel,
            opened,
            closed,
            reopened,
            res,
            bres,
            csat,
            surveyed,
        ) in CONVERSATIONS:
            await conn.execute(
                "INSERT INTO conversations (id, customer_id, status, opened_at,"
                " closed_at, last_message_at, queue, priority, channel, reopened_count,"
                " resolution_seconds, resolution_business_seconds, csat_score,"
                " csat_at, follow_up_status, follow_up_sent_at) VALUES ($1, $2, $3,"
                " $4, $5, $4, $6, 'normal', $7, $8, $9, $10, $11, $5, $12, $5)",
                cid,
                customer,
                "closed" if closed else "open",
                opened,
                closed,
                queue,
                channel,
                reopened,
                res,
                bres,
                csat,
                "sent" if surveyed else None,
            )
        await conn.executemany(
            "INSERT INTO responses (conversation_id, kind, awaited_since, answered_at,"
            " seconds, business_seconds, agent_id, target_seconds, within_target)"
            " VALUES ($1, $2, now(), now(), $3::float8, $3::float8 / 2, 'alice', $4, $5)",
            RESPONSES,
        )
        await conn.executemany(
            "INSERT INTO assignment_log (conversation_id, at, outcome, agent_id, reason)"
            " VALUES ($1, $2, $3, $4, 'seeded')",
            STEPS,
        )
        await conn.executemany(
            "INSERT INTO sla_timers (conversation_id, metric, customer_id, policy_id,"
            " target_seconds, business_hours, warn_at, started_at, stopped_at,"
            " breached_at) SELECT $1, $2, customer_id, 'standard', 120, false, 0.8,"
            " opened_at, $3, $4 FROM conversations WHERE id = $1",
            TIMERS,
        )
    return desk


async def _stats(desk: SlaDesk, **params: str) -> dict[str, Any]:
    r = await desk.client.get("/v1/stats", params={**WEEK, **params}, headers=AUTH)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_the_week_matches_hand_computed_figures(seeded: SlaDesk) -> None:
    stats = await _stats(seeded)
    assert stats["from"] == "2026-11-02T00:00:00Z"
    assert stats["conversations"] == {"opened": 5, "closed": 4, "reopened": 1}
    # first responses 30, 60, 90, 120, 180: median 90, p90 at 3.6 -> 120 + 0.6 * 60
    assert stats["first_response"] == {
        "median_seconds": 90.0,
        "p90_seconds": pytest.approx(156.0),
        "within_target": 0.75,  # 3 of the 4 held to a target
    }
    # next responses 100, 300: median 200, p90 at 0.9 -> 100 + 0.9 * 200
    assert stats["next_response"] == {
        "median_seconds": 200.0,
        "p90_seconds": pytest.approx(280.0),
        "within_target": None,
    }
    # resolutions 1800, 3600, 3600, 7200: p90 at 2.7 -> 3600 + 0.7 * 3600
    assert stats["resolution"] == {
        "median_seconds": 3600.0,
        "p90_seconds": pytest.approx(6120.0),
        "within_target": 0.5,
    }
    # Handle: alice C1 3300, C2 3300 (after bob's transfer), C3 1800; bob C2 3000,
    # C5 1800 (released); C4 is open.
    handle = stats["handle_time"]
    assert handle["median_seconds"] == 3000.0
    assert handle["p90_seconds"] == pytest.approx(3300.0)
    assert handle["by_agent"] == {
        "alice": {"median_seconds": 3300.0, "p90_seconds": 3300.0, "conversations": 3},
        "bob": {
            "median_seconds": 2400.0,
            "p90_seconds": pytest.approx(2880.0),
            "conversations": 2,
        },
    }
    # FCR: C2 and C5 (C1 was followed by C5 the same day, C3 was reopened).
    assert stats["fcr_rate"] == 0.5
    assert stats["sla_attainment"] == {
        "first_response": pytest.approx(2 / 3),
        "next_response": None,
        "resolution": 0.5,
    }
    assert stats["csat"] == {
        "average": 4.0,
        "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1},
        "responses": 2,
        "response_rate": pytest.approx(2 / 3),
    }


async def test_business_hours_figures_use_the_time_inside_the_hours(
    seeded: SlaDesk,
) -> None:
    stats = await _stats(seeded, business_hours="true")
    assert stats["filters"]["business_hours"] is True
    assert stats["first_response"]["median_seconds"] == 45.0
    # 1000, 2000, 3000, 4000: median 2500, p90 at 2.7 -> 3000 + 0.7 * 1000
    assert stats["resolution"]["median_seconds"] == 2500.0
    assert stats["resolution"]["p90_seconds"] == pytest.approx(3700.0)


async def test_filters(seeded: SlaDesk) -> None:
    billing = await _stats(seeded, queue="billing")
    assert billing["conversations"] == {"opened": 2, "closed": 1, "reopened": 1}
    assert billing["fcr_rate"] == 0.0
    sms = await _stats(seeded, channel="sms")
    assert sms["conversations"]["opened"] == 1
    assert sms["csat"]["average"] == 3.0
    bob = await _stats(seeded, agent_id="bob")
    assert bob["conversations"]["opened"] == 3  # C2, C4, C5
    assert list(bob["handle_time"]["by_agent"]) == ["bob"]
    assert bob["handle_time"]["median_seconds"] == 2400.0


async def test_empty_and_reversed_intervals_and_a_time_without_offset(
    seeded: SlaDesk,
) -> None:
    r = await seeded.client.get(
        "/v1/stats",
        params={"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"},
        headers=AUTH,
    )
    assert r.status_code == 200
    empty = r.json()
    assert empty["conversations"] == {"opened": 0, "closed": 0, "reopened": 0}
    assert empty["first_response"]["median_seconds"] is None
    assert empty["fcr_rate"] is None
    assert empty["csat"]["response_rate"] is None
    reversed_week = {"from": WEEK["to"], "to": WEEK["from"]}
    r = await seeded.client.get("/v1/stats", params=reversed_week, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["conversations"]["opened"] == 0
    r = await seeded.client.get(
        "/v1/stats", params={"from": "2026-11-02T00:00:00"}, headers=AUTH
    )
    assert r.status_code == 422  # a time without its offset
    assert r.headers["content-type"] == "application/problem+json"


async def test_replies_and_closes_record_the_facts(desk: SlaDesk) -> None:
    conversation = await desk.message("v-1")
    await desk.reply(conversation)
    await desk.message("v-1", "one more thing")
    await desk.reply(conversation)
    await desk.client.post(f"/v1/conversations/{conversation}/close", headers=AUTH)
    async with desk.app.state.db.connection() as conn:
        kinds = await conn.fetch(
            "SELECT kind, seconds, target_seconds, within_target FROM responses"
            " WHERE conversation_id = $1 ORDER BY id",
            conversation,
        )
        resolution = await conn.fetchval(
            "SELECT resolution_seconds FROM conversations WHERE id = $1", conversation
        )
    assert [(k["kind"], k["target_seconds"], k["within_target"]) for k in kinds] == [
        ("first", 60, True),
        ("next", 120, True),
    ]
    assert all(k["seconds"] >= 0 for k in kinds)
    assert resolution is not None
    assert resolution >= 0
    r = await desk.client.get("/v1/stats", headers=AUTH)
    stats = r.json()
    assert stats["conversations"]["closed"] == 1
    assert stats["first_response"]["within_target"] == 1.0
    assert stats["sla_attainment"]["first_response"] == 1.0
