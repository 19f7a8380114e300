"""The follow-up survey after a close and the customer's rating: SMS, WhatsApp
inside and outside its 24-hour window, idle closes, redeliveries."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from devtools.event_schemas import validate_event
from tests.conftest import AUTH
from tests.payloads import post, sms, whatsapp
from tests.sla.conftest import SCHEMAS, SlaDesk, open_sla_desk

RULES = """
rules:
  - id: plain
    when: {keywords_any: [plain]}
    then: {queue: wa-plain}
  - id: whatsapp
    when: {channel: whatsapp}
    then: {queue: wa}
default:
  queue: sms
queues:
  sms:
    follow_up:
      after_close: 10m
      text: "How did we do? Reply with a number from 1 (bad) to 5 (great)."
  wa:
    follow_up:
      after_close: 10m
      text: "How did we do? Reply 1 to 5."
      template: {name: csat_survey, language: en}
  wa-plain:
    follow_up:
      after_close: 10m
      text: "How did we do? Reply 1 to 5."
  idle-too:
    follow_up: {after_close: 1m, text: "Rate us 1-5", on_idle_close: true}
"""
PHONE = "+14155550123"
WA_ID = "4915123456789"


@pytest.fixture
async def desk(
    database_url: URL, tmp_path: Path, engine: object
) -> AsyncIterator[SlaDesk]:
    async with open_sla_desk(database_url, tmp_path, RULES) as opened:
        yield opened


async def _conversations(desk: SlaDesk, customer_id: object) -> list[dict[str, object]]:
    r = await desk.client.get(
        "/v1/conversations", params={"customer_id": str(customer_id)}, headers=AUTH
    )
    assert r.status_code == 200
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def _outbound(
    desk: SlaDesk, conversation_id: uuid.UUID
) -> list[dict[str, object]]:
    async with desk.app.state.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT m.channel, m.text, d.delivery -> 'template' AS template"
            " FROM messages m JOIN dispatches d ON d.message_id = m.id"
            " WHERE m.conversation_id = $1 AND m.direction = 'outbound'"
            " ORDER BY m.sent_at",
            conversation_id,
        )
    return [dict(r) for r in rows]


async def _csat_events(desk: SlaDesk) -> list[dict[str, object]]:
    async with desk.app.state.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE topic = 'omniroute.csat' ORDER BY id"
        )
    found = [json.loads(r["payload"]) for r in rows]
    for event in found:
        validate_event(event, SCHEMAS)
    return found


async def _closed_and_surveyed(desk: SlaDesk, conversation: uuid.UUID) -> None:
    r = await desk.client.post(f"/v1/conversations/{conversation}/close", headers=AUTH)
    assert r.status_code == 200
    assert r.json()["follow_up"] == {"status": "scheduled", "reason": None}
    await desk.tick(after_seconds=300)  # not yet
    assert (await desk.conversation(conversation))["follow_up"]["status"] == "scheduled"  # type: ignore[index]
    await desk.tick(after_seconds=601)


async def test_sms_survey_and_rating_round_trip(desk: SlaDesk) -> None:
    first = sms(PHONE, "my router is broken")
    assert (await post(desk.client, first)).status_code == 200
    [opened] = await _conversations_of_phone(desk)
    conversation = uuid.UUID(str(opened["id"]))
    await _closed_and_surveyed(desk, conversation)
    shown = await desk.conversation(conversation)
    assert shown["follow_up"] == {"status": "sent", "reason": None}
    [survey] = await _outbound(desk, conversation)
    assert survey["channel"] == "sms"
    assert str(survey["text"]).startswith("How did we do?")

    rating = sms(PHONE, "4 - quick, thanks")
    assert (await post(desk.client, rating)).status_code == 200
    assert (await post(desk.client, rating)).status_code == 200  # redelivered
    [still] = await _conversations_of_phone(desk)
    assert still["id"] == str(conversation)  # the rating opened nothing
    shown = await desk.conversation(conversation)
    csat = shown["csat"]
    assert isinstance(csat, dict)
    assert csat["score"] == 4
    assert csat["comment"] == "quick, thanks"
    [event] = await _csat_events(desk)
    assert event["type"] == "omniroute.csat.received.v1"
    assert event["data"]["score"] == 4
    assert event["data"]["channel"] == "sms"
    assert event["data"]["conversation_id"] == str(conversation)

    # Once rated, a digit is an ordinary message again.
    assert (await post(desk.client, sms(PHONE, "5"))).status_code == 200
    assert len(await _conversations_of_phone(desk)) == 2
    assert len(await _csat_events(desk)) == 1


async def _conversations_of_phone(desk: SlaDesk) -> list[dict[str, object]]:
    r = await desk.client.get("/v1/customers", params={"phone": PHONE}, headers=AUTH)
    [customer] = r.json()["items"]
    return await _conversations(desk, customer["id"])


async def test_an_ordinary_message_after_the_survey_opens_a_conversation(
    desk: SlaDesk,
) -> None:
    assert (await post(desk.client, sms(PHONE, "hello"))).status_code == 200
    [opened] = await _conversations_of_phone(desk)
    await _closed_and_surveyed(desk, uuid.UUID(str(opened["id"])))
    await post(desk.client, sms(PHONE, "my order 5 is missing"))
    found = await _conversations_of_phone(desk)
    assert len(found) == 2
    assert found[1]["csat"] is None
    assert await _csat_events(desk) == []


async def test_whatsapp_inside_the_window_sends_free_text_and_takes_stars(
    desk: SlaDesk,
) -> None:
    await post(desk.client, whatsapp(WA_ID, "need help"))
    conversation = await _latest(desk)
    await _closed_and_surveyed(desk, conversation)
    [survey] = await _outbound(desk, conversation)
    assert survey["channel"] == "whatsapp"
    assert json.loads(str(survey["template"])) is None
    await post(desk.client, whatsapp(WA_ID, "★★★★★"))
    csat = (await desk.conversation(conversation))["csat"]
    assert isinstance(csat, dict)
    assert csat["score"] == 5


async def test_whatsapp_outside_the_window_uses_the_template(desk: SlaDesk) -> None:
    long_ago = int(time.time()) - 30 * 3600
    await post(desk.client, whatsapp(WA_ID, "need help", timestamp=long_ago))
    conversation = await _latest(desk)
    await _closed_and_surveyed(desk, conversation)
    assert (await desk.conversation(conversation))["follow_up"] == {
        "status": "sent",
        "reason": None,
    }
    [survey] = await _outbound(desk, conversation)
    template = survey["template"]
    assert template is not None
    assert json.loads(str(template))["name"] == "csat_survey"


async def test_whatsapp_outside_the_window_without_a_template_is_skipped(
    desk: SlaDesk,
) -> None:
    long_ago = int(time.time()) - 30 * 3600
    await post(desk.client, whatsapp(WA_ID, "plain question", timestamp=long_ago))
    conversation = await _latest(desk)
    await _closed_and_surveyed(desk, conversation)
    assert (await desk.conversation(conversation))["follow_up"] == {
        "status": "skipped",
        "reason": "window",
    }
    assert await _outbound(desk, conversation) == []
    await post(desk.client, whatsapp(WA_ID, "5"))  # no survey: an ordinary message
    assert await _csat_events(desk) == []


async def test_idle_closes_get_no_survey_unless_configured(desk: SlaDesk) -> None:
    await post(desk.client, sms(PHONE, "hello"))
    [opened] = await _conversations_of_phone(desk)
    conversation = uuid.UUID(str(opened["id"]))
    async with desk.app.state.db.transaction() as conn:
        await conn.execute(
            "UPDATE conversations SET status = 'closed', closed_at = now(),"
            " close_reason = 'idle' WHERE id = $1",
            conversation,
        )
    await desk.tick(after_seconds=3600)
    shown = await desk.conversation(conversation)
    assert shown["follow_up"] is None
    assert await _outbound(desk, conversation) == []

    await post(desk.client, sms("+14155550999", "hello again"))
    other = await _latest(desk)
    async with desk.app.state.db.transaction() as conn:
        await conn.execute(
            "UPDATE conversations SET queue = 'idle-too', status = 'closed',"
            " closed_at = now(), close_reason = 'idle' WHERE id = $1",
            other,
        )
    await desk.tick(after_seconds=10)  # accounted for: scheduled
    assert (await desk.conversation(other))["follow_up"] == {
        "status": "scheduled",
        "reason": None,
    }
    await desk.tick(after_seconds=61)
    assert (await desk.conversation(other))["follow_up"]["status"] == "sent"  # type: ignore[index]


async def _latest(desk: SlaDesk) -> uuid.UUID:
    async with desk.app.state.db.connection() as conn:
        found: uuid.UUID = await conn.fetchval(
            "SELECT id FROM conversations ORDER BY opened_at DESC LIMIT 1"
        )
    return found
