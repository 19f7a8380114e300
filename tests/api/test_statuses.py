"""Provider delivery statuses on our replies: ranked (a status never moves a message
down), recorded with their time in the timeline, published through the outbox;
unknown messages and duplicates are 200 and change nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from devtools.event_schemas import load_event_schemas, validate_event
from devtools.payloads import SignedRequest, meta_request
from tests.conftest import SECRETS
from tests.payloads import email, post, sms, whatsapp
from tests.status_payloads import (
    conversation_of,
    mailgun_event,
    mark_sent,
    messenger_message,
    messenger_receipt,
    reply,
    sent_reply,
    timeline_message,
    twilio_sid,
    twilio_status,
    wa_status,
    whatsapp_statuses,
)

TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SCHEMAS = load_event_schemas()


async def _events(engine, message_id) -> list[tuple[str, str | None, str | None]]:
    """(type, status, previous) of the message's events on the message topic, each
    valid against docs/asyncapi.yaml."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT payload::jsonb FROM outbox WHERE topic = 'omniroute.messages'"
                " AND payload::jsonb -> 'data' ->> 'message_id' = :id ORDER BY id"
            ),
            {"id": str(message_id)},
        )
        documents = [
            row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows
        ]
    for document in documents:
        validate_event(document, SCHEMAS)
    return [
        (d["type"], d["data"].get("status"), d["data"].get("previous_status"))
        for d in documents
    ]


def _history(message) -> list[str]:
    return [change["status"] for change in message["status_history"]]


SENT = [
    ("omniroute.message.sent.v1", None, None),
    ("omniroute.message.status.v1", "sent", "queued"),
]


async def test_read_before_delivered_is_read_and_delivered_adds_nothing(
    client, app, engine
):
    wamid = "wamid." + uuid.uuid4().hex
    message = await sent_reply(
        client, app, whatsapp("4915112345600", "Hallo"), wamid, phone="+4915112345600"
    )

    read = await post(client, whatsapp_statuses(wa_status(wamid, "read")))
    delivered = await post(client, whatsapp_statuses(wa_status(wamid, "delivered")))

    assert (read.status_code, delivered.status_code) == (200, 200)
    found = await timeline_message(client, message)
    assert found["status"] == "read"
    assert _history(found) == ["queued", "sent", "read"]
    assert await _events(engine, message["id"]) == [
        *SENT,
        ("omniroute.message.status.v1", "read", "sent"),
    ]


async def test_a_duplicate_status_changes_nothing(client, app, engine):
    sid = twilio_sid()
    message = await sent_reply(
        client, app, sms("+14155550140", "where is it?"), sid, phone="+14155550140"
    )

    first = await post(client, twilio_status(sid, "delivered"))
    again = await post(client, twilio_status(sid, "delivered"))

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.content == TWIML
    found = await timeline_message(client, message)
    assert _history(found) == ["queued", "sent", "delivered"]
    assert await _events(engine, message["id"]) == [
        *SENT,
        ("omniroute.message.status.v1", "delivered", "sent"),
    ]
    metrics = (await client.get("/metrics")).text
    assert (
        'omniroute_delivery_statuses_total{outcome="changed",provider="twilio"} 1.0'
        in metrics
    )
    assert (
        'omniroute_delivery_statuses_total{outcome="unchanged",provider="twilio"} 1.0'
        in metrics
    )


async def test_a_failure_after_sent_is_recorded_with_its_error(client, app, engine):
    sid = twilio_sid()
    message = await sent_reply(
        client, app, sms("+14155550141", "hello"), sid, phone="+14155550141"
    )

    response = await post(client, twilio_status(sid, "undelivered", error_code="30003"))

    assert response.status_code == 200
    found = await timeline_message(client, message)
    assert found["status"] == "failed"
    assert found["error"] == {"code": "30003", "message": "undelivered"}
    assert found["status_history"][-1] | {"at": None} == {
        "status": "failed",
        "at": None,
        "error_code": "30003",
        "error": "undelivered",
    }
    [*_, event] = await _events(engine, message["id"])
    assert event == ("omniroute.message.status.v1", "failed", "sent")


async def test_a_failure_after_delivered_is_ignored(client, app, engine):
    sid = twilio_sid()
    message = await sent_reply(
        client, app, sms("+14155550142", "hello"), sid, phone="+14155550142"
    )

    await post(client, twilio_status(sid, "delivered"))
    late = await post(client, twilio_status(sid, "failed", error_code="30008"))

    assert late.status_code == 200
    found = await timeline_message(client, message)
    assert (found["status"], found["error"]) == ("delivered", None)
    assert len(await _events(engine, message["id"])) == 3


async def test_a_status_for_an_unknown_message_is_200_and_changes_nothing(
    client, app, engine
):
    sid = twilio_sid()
    message = await sent_reply(
        client, app, sms("+14155550143", "hello"), sid, phone="+14155550143"
    )
    before = await _events(engine, message["id"])

    response = await post(client, twilio_status(twilio_sid(), "delivered"))
    unknown_wamid = await post(
        client, whatsapp_statuses(wa_status("wamid.nobody", "read"))
    )

    assert (response.status_code, unknown_wamid.status_code) == (200, 200)
    assert (await timeline_message(client, message))["status"] == "sent"
    assert await _events(engine, message["id"]) == before
    metrics = (await client.get("/metrics")).text
    assert (
        'omniroute_delivery_statuses_total{outcome="unknown_message",provider="twilio"}'
        " 1.0" in metrics
    )


async def test_the_status_of_another_providers_id_is_not_applied(client, app):
    """A WhatsApp Cloud status naming a Twilio SID finds nothing: ids are per provider."""
    sid = twilio_sid()
    message = await sent_reply(
        client, app, sms("+14155550144", "hello"), sid, phone="+14155550144"
    )

    await post(client, whatsapp_statuses(wa_status(sid, "read")))

    assert (await timeline_message(client, message))["status"] == "sent"


async def test_a_whatsapp_failure_carries_metas_error(client, app):
    wamid = "wamid." + uuid.uuid4().hex
    message = await sent_reply(
        client, app, whatsapp("4915112345601", "Hallo"), wamid, phone="+4915112345601"
    )
    error = {
        "code": 131049,
        "title": "This message was not delivered to maintain healthy ecosystem"
        " engagement.",
    }

    await post(client, whatsapp_statuses(wa_status(wamid, "failed", errors=[error])))

    found = await timeline_message(client, message)
    assert found["status"] == "failed"
    assert found["error"] == {"code": "131049", "message": error["title"]}


async def test_a_bad_message_beside_a_good_status_still_applies_the_status(client, app):
    wamid = "wamid." + uuid.uuid4().hex
    message = await sent_reply(
        client, app, whatsapp("4915112345602", "Hallo"), wamid, phone="+4915112345602"
    )
    value = {
        "messages": [{"type": "text"}],  # no id, no from: refused alone
        "statuses": [wa_status(wamid, "delivered")],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": value}]}],
    }
    response = await post(client, meta_request(str(SECRETS["meta_app_secret"]), body))

    assert response.status_code == 200
    assert (await timeline_message(client, message))["status"] == "delivered"


async def test_a_messenger_watermark_marks_every_message_sent_up_to_it(
    client, app, engine
):
    psid = f"{uuid.uuid4().int % 10**16:016d}"
    first = await sent_reply(
        client, app, messenger_message(psid), "m_a", identity=f"messenger:{psid}"
    )
    conversation = await conversation_of(client, identity=f"messenger:{psid}")
    second = await reply(client, conversation["id"], "and another thing")
    await mark_sent(app, second["id"], "m_b")
    watermark = datetime.now(UTC)
    later = await reply(client, conversation["id"], "after the watermark")
    await mark_sent(app, later["id"], "m_c")

    delivered = await post(client, messenger_receipt(psid, "delivery", watermark))
    read = await post(client, messenger_receipt(psid, "read", watermark))
    again = await post(client, messenger_receipt(psid, "delivery", watermark))

    assert {r.status_code for r in (delivered, read, again)} == {200}
    for message in (first, second):
        found = await timeline_message(client, message)
        assert _history(found) == ["queued", "sent", "delivered", "read"]
        assert [e[1] for e in await _events(engine, message["id"])] == [
            None,
            "sent",
            "delivered",
            "read",
        ]
    assert (await timeline_message(client, later))["status"] == "sent"


async def test_a_messenger_delivery_names_its_mids_too(client, app):
    psid = f"{uuid.uuid4().int % 10**16:016d}"
    message = await sent_reply(
        client, app, messenger_message(psid), "m_x", identity=f"messenger:{psid}"
    )
    long_ago = datetime.now(UTC) - timedelta(days=1)  # the watermark covers nothing

    await post(client, messenger_receipt(psid, "delivery", long_ago, mids=["m_x"]))

    assert (await timeline_message(client, message))["status"] == "delivered"


async def _email_reply(client, app, address: str, provider_id: str | None):
    inbound = email(address, "Invoice?", message_id=f"{uuid.uuid4()}@mail.example.com")
    return await sent_reply(client, app, inbound, provider_id, email=address)


async def test_mailgun_delivered_is_matched_by_our_custom_variable(client, app, engine):
    message = await _email_reply(client, app, "ana@example.com", "stored@mg")

    response = await post(
        client,
        mailgun_event("delivered", ours=str(message["id"]), message_id="other@mg"),
    )

    assert response.status_code == 200
    found = await timeline_message(client, message)
    assert (found["status"], found["provider_message_id"]) == (
        "delivered",
        "stored@mg",
    )


async def test_mailgun_delivered_for_a_send_we_never_heard_back_from(
    client, app, engine
):
    """Queued with no provider id (the answer was lost): our id finds it, and the
    event's Message-Id becomes its provider id."""
    message = await _email_reply(client, app, "ben@example.com", None)

    await post(
        client,
        mailgun_event("delivered", ours=str(message["id"]), message_id="late@mg"),
    )

    found = await timeline_message(client, message)
    assert (found["status"], found["provider_message_id"]) == ("delivered", "late@mg")
    assert await _events(engine, message["id"]) == [
        ("omniroute.message.sent.v1", None, None),
        ("omniroute.message.status.v1", "delivered", "queued"),
    ]


@pytest.mark.parametrize(
    ("severity", "status"),
    [
        pytest.param("temporary", "sent", id="temporary-is-not-recorded"),
        pytest.param("permanent", "failed", id="permanent-is-failed"),
    ],
)
async def test_mailgun_failures_by_message_id(client, app, severity, status):
    message_id = f"{uuid.uuid4()}@mg.omniroute.example.com"
    message = await _email_reply(client, app, "cy@example.com", message_id)

    response = await post(
        client,
        mailgun_event(
            "failed",
            message_id=message_id,
            severity=severity,
            code=550,
            text="5.1.1 mailbox does not exist",
        ),
    )

    assert response.status_code == 200
    found = await timeline_message(client, message)
    assert found["status"] == status
    if status == "failed":
        assert found["error"] == {
            "code": "550",
            "message": "5.1.1 mailbox does not exist",
        }


async def test_our_id_of_another_providers_message_is_not_applied(client, app):
    sid = twilio_sid()
    message = await sent_reply(
        client, app, sms("+14155550145", "hello"), sid, phone="+14155550145"
    )

    await post(client, mailgun_event("delivered", ours=str(message["id"])))

    assert (await timeline_message(client, message))["status"] == "sent"


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(
            SignedRequest(
                "/webhooks/twilio/status",
                b"MessageSid=SM1&MessageStatus=delivered",
                {"Content-Type": "application/x-www-form-urlencoded"},
            ),
            id="twilio-unsigned",
        ),
        pytest.param(
            SignedRequest(
                "/webhooks/email/mailgun/events",
                b'{"event-data": {"event": "delivered"}}',
                {"Content-Type": "application/json"},
            ),
            id="mailgun-unsigned",
        ),
    ],
)
async def test_unsigned_status_webhooks_are_401(client, request_):
    response = await post(client, request_)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_twilio_status_value_is_acknowledged(client, app):
    sid = twilio_sid()
    message = await sent_reply(
        client, app, sms("+14155550146", "hello"), sid, phone="+14155550146"
    )

    response = await post(client, twilio_status(sid, "receiving"))

    assert response.status_code == 200
    assert (await timeline_message(client, message))["status"] == "sent"
