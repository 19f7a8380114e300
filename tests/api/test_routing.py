"""Routing through the API: decisions recorded with reasons, stickiness, rules reload."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import text

from app.main import create_app
from app.settings import DEFAULT_RULES_FILE
from tests.conftest import AUTH, PUBLIC_BASE_URL, make_settings
from tests.payloads import chat, post, sms

RULES = b"""
rules:
  - id: billing
    when: {keywords_any: [invoice]}
    then: {queue: billing, priority: normal, skills: [billing]}
  - id: urgent
    when: {keywords_any: [urgent]}
    then: {queue: general, priority: urgent}
  - id: legal
    when: {keywords_any: [lawyer]}
    then: {queue: escalations, priority: high, escalate: true}
default: {queue: general}
"""


async def _client_with_rules(database_url, tmp_path: Path, rules: bytes):
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_bytes(rules)
    app = create_app(
        make_settings(database_url, tmp_path / "att", routing_rules_file=rules_file)
    )
    return app, rules_file


async def test_decisions_follow_stickiness_and_explain_themselves(
    database_url, tmp_path, engine
):
    app, _ = await _client_with_rules(database_url, tmp_path, RULES)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as c:
            for body in (
                "my invoice is wrong",
                "this is urgent",
                "hello again",
                "I will call my lawyer",
            ):
                assert (await post(c, sms("+14155550160", body))).status_code == 200
            [customer] = (
                await c.get(
                    "/v1/customers", params={"phone": "+14155550160"}, headers=AUTH
                )
            ).json()["items"]
            [conversation] = (
                await c.get(
                    "/v1/conversations",
                    headers=AUTH,
                    params={"customer_id": customer["id"]},
                )
            ).json()["items"]
            decisions = (
                await c.get(
                    f"/v1/conversations/{conversation['id']}/decisions", headers=AUTH
                )
            ).json()["items"]

    assert [(d["queue"], d["priority"], d["rule_id"]) for d in decisions] == [
        ("billing", "normal", "billing"),
        ("billing", "urgent", "urgent"),  # follow-up: queue sticks, priority rises
        ("billing", "urgent", None),  # no rule: nothing lowers it
        (
            "escalations",
            "urgent",
            "legal",
        ),  # escalate moves the queue, priority stays max
    ]
    assert decisions[0]["new_conversation"] is True
    assert decisions[0]["previous"] is None
    assert decisions[1]["previous"] == {"queue": "billing", "priority": "normal"}
    assert decisions[1]["matched_conditions"] == ["keywords_any"]
    assert decisions[3]["escalated"] is True
    assert "legal" in decisions[3]["reason"]
    assert (conversation["queue"], conversation["priority"]) == (
        "escalations",
        "urgent",
    )
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM decisions),"
                    " (SELECT count(*) FROM outbox)"
                )
            )
        ).one()
    assert tuple(counts) == (4, 4, 4)


async def test_duplicate_delivery_makes_no_second_decision(client, engine):
    request = chat("v-dup", "hello")
    await post(client, request)
    await post(client, request)

    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM outbox)"
                )
            )
        ).one()
    assert tuple(counts) == (1, 1)


async def test_reload_swaps_rules_and_a_bad_file_keeps_the_old_ones(
    database_url, tmp_path
):
    app, rules_file = await _client_with_rules(database_url, tmp_path, RULES)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as c:
            before = (await c.get("/v1/routing/rules", headers=AUTH)).json()
            rules_file.write_bytes(
                RULES.replace(b"queue: billing,", b"queue: invoices,")
            )
            reloaded = (await c.post("/v1/routing/rules/reload", headers=AUTH)).json()
            rules_file.write_bytes(
                b"rules:\n  - id: broken\n    when: {colour: red}\n"
                b"    then: {queue: x}\ndefault: {queue: general}\n"
            )
            rejected = await c.post("/v1/routing/rules/reload", headers=AUTH)
            after = (await c.get("/v1/routing/rules", headers=AUTH)).json()
            await post(c, sms("+14155550161", "invoice 2"))

    assert before["rules"][0] == {
        "id": "billing",
        "conditions": ["keywords_any"],
        "queue": "billing",
        "priority": "normal",
        "skills": ["billing"],
        "tags": [],
        "escalate": False,
    }
    assert reloaded["version"] != before["version"]
    assert reloaded["rules"][0]["queue"] == "invoices"
    assert rejected.status_code == 422
    problem = rejected.json()
    assert (problem["line"], problem["rule_id"]) == (3, "broken")
    assert problem["active_version"] == reloaded["version"]
    assert after["version"] == reloaded["version"]


async def test_shipped_example_rules_are_the_default(client):
    rules = (await client.get("/v1/routing/rules", headers=AUTH)).json()

    assert rules["path"] == str(DEFAULT_RULES_FILE)
    assert rules["default"]["queue"]
    assert len(rules["version"]) == 16


async def test_metrics_count_webhooks_and_decisions(client):
    await post(client, sms("+14155550162", "hi"))
    bad = sms("+14155550162", "x")
    await client.post(
        bad.path,
        content=bad.body,
        headers={**bad.headers, "X-Twilio-Signature": "nope"},
    )

    body = (await client.get("/metrics")).text

    assert 'omniroute_webhooks_accepted_total{connector="twilio"} 1.0' in body
    assert (
        'omniroute_webhooks_rejected_total{connector="twilio",'
        'reason="signature_invalid"} 1.0'
    ) in body
    assert "omniroute_routing_decisions_total" in body
    assert "omniroute_ingest_duration_seconds_bucket" in body
