"""Agents answer through POST /v1/conversations/{id}/messages: stored as queued in the
timeline with a dispatch row; idempotent; recipient, channel windows, closed
conversations, missing settings. (Delivery itself: tests/app/test_dispatch.py.)"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from app.main import create_app
from devtools.payloads import meta_request
from tests.conftest import AUTH, PUBLIC_BASE_URL, SECRETS, make_settings
from tests.payloads import chat, email, post, sms, whatsapp

PROBLEM = "application/problem+json"


async def _conversation_of(client, **query) -> dict:
    found = await client.get("/v1/customers", params=query, headers=AUTH)
    [customer] = found.json()["items"]
    listing = await client.get(
        "/v1/conversations",
        params={"customer_id": customer["id"], "status": "open"},
        headers=AUTH,
    )
    [conversation] = listing.json()["items"]
    return conversation


async def _reply(client, conversation_id: str, body: dict, key: str | None = None):
    headers = AUTH | ({"Idempotency-Key": key} if key else {})
    return await client.post(
        f"/v1/conversations/{conversation_id}/messages", json=body, headers=headers
    )


async def _dispatches(engine) -> list:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT message_id, provider, delivery, state FROM dispatches")
        )
        return list(rows.all())


async def test_a_reply_is_queued_in_the_timeline_with_its_dispatch(client, engine):
    await post(client, sms("+14155550100", "where is my order?"))
    conversation = await _conversation_of(client, phone="+14155550100")

    response = await _reply(
        client, conversation["id"], {"text": "It ships today.", "agent_id": "ana"}
    )

    assert response.status_code == 202, response.text
    message = response.json()
    assert (message["direction"], message["status"], message["agent_id"]) == (
        "outbound",
        "queued",
        "ana",
    )
    assert message["channel"] == "sms"
    assert message["provider_message_id"] is None
    assert [s["status"] for s in message["status_history"]] == ["queued"]
    timeline = await client.get(
        f"/v1/customers/{conversation['customer_id']}/timeline", headers=AUTH
    )
    assert timeline.json()["items"][0]["id"] == message["id"]
    [dispatch] = await _dispatches(engine)
    assert (str(dispatch.message_id), dispatch.provider, dispatch.state) == (
        message["id"],
        "twilio",
        "pending",
    )
    assert dispatch.delivery["to"] == "+14155550100"
    assert dispatch.delivery["sender"] == "+14155550000"  # the number they wrote to
    after = await client.get(f"/v1/conversations/{conversation['id']}", headers=AUTH)
    assert after.json()["first_response_at"] is not None
    assert after.json()["first_response_seconds"] >= 0


async def test_the_same_key_concurrently_makes_one_message_and_one_send(client, engine):
    await post(client, sms("+14155550101", "hello"))
    conversation = await _conversation_of(client, phone="+14155550101")
    key = uuid.uuid4().hex

    responses = await asyncio.gather(
        *(_reply(client, conversation["id"], {"text": "Hi!"}, key) for _ in range(10))
    )

    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await _dispatches(engine)) == 1


async def test_the_body_key_counts_and_a_changed_body_is_422(client, engine):
    await post(client, sms("+14155550102", "hello"))
    conversation = await _conversation_of(client, phone="+14155550102")
    body = {"text": "Hi!", "client_message_id": "desk-42"}

    first = await _reply(client, conversation["id"], body)
    again = await _reply(client, conversation["id"], body)
    changed = await _reply(client, conversation["id"], body | {"text": "Hello!"})

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert changed.status_code == 422
    assert changed.headers["content-type"] == PROBLEM
    assert len(await _dispatches(engine)) == 1


async def test_a_closed_conversation_is_409(client):
    await post(client, sms("+14155550103", "hello"))
    conversation = await _conversation_of(client, phone="+14155550103")
    await client.post(f"/v1/conversations/{conversation['id']}/close", headers=AUTH)

    response = await _reply(client, conversation["id"], {"text": "late"})

    assert response.status_code == 409
    assert response.json()["type"].endswith("/problems/conversation-closed")


async def test_a_channel_the_customer_has_no_identity_on_is_422_naming_it(client):
    await post(client, sms("+14155550104", "hello"))
    conversation = await _conversation_of(client, phone="+14155550104")

    response = await _reply(
        client, conversation["id"], {"text": "hi", "channel": "telegram"}
    )

    assert response.status_code == 422
    assert response.json()["channel"] == "telegram"


async def test_an_unknown_conversation_is_404(client):
    response = await _reply(client, str(uuid.uuid4()), {"text": "hi"})

    assert response.status_code == 404


async def test_missing_sending_settings_are_503_naming_the_setting(
    database_url, tmp_path, engine
):
    settings = make_settings(database_url, tmp_path, twilio_account_sid=None)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE_URL
        ) as client,
    ):
        await post(client, sms("+14155550105", "hello"))
        conversation = await _conversation_of(client, phone="+14155550105")
        response = await _reply(client, conversation["id"], {"text": "hi"})

    assert response.status_code == 503
    assert response.json()["setting"] == "OMNIROUTE_TWILIO_ACCOUNT_SID"


async def test_whatsapp_outside_24_hours_needs_a_template(client, engine):
    old = int((datetime.now(UTC) - timedelta(hours=25)).timestamp())
    await post(client, whatsapp("4915112345678", "Hallo", timestamp=old))
    conversation = await _conversation_of(client, phone="+4915112345678")

    free_form = await _reply(client, conversation["id"], {"text": "Hi again"})
    templated = await _reply(
        client,
        conversation["id"],
        {
            "text": "Your order shipped",
            "template": {"name": "order_update", "language": "de", "variables": ["1"]},
        },
    )

    assert free_form.status_code == 409
    assert free_form.json()["rule"] == "whatsapp-24h"
    assert templated.status_code == 202, templated.text
    [dispatch] = await _dispatches(engine)
    assert dispatch.delivery["template"]["name"] == "order_update"
    assert dispatch.delivery["reply_to"].startswith("wamid.")


def _messenger(psid: str, at: datetime) -> object:
    ms = int(at.timestamp() * 1000)
    event = {
        "sender": {"id": psid},
        "recipient": {"id": "1234567890"},
        "timestamp": ms,
        "message": {"mid": "m_" + uuid.uuid4().hex, "text": "hello page"},
    }
    document = {
        "object": "page",
        "entry": [{"id": "1234567890", "time": ms, "messaging": [event]}],
    }
    return meta_request(str(SECRETS["meta_app_secret"]), document)


@pytest.mark.parametrize(
    ("age", "status", "messaging_type", "tag"),
    [
        pytest.param(timedelta(hours=2), 202, "RESPONSE", None, id="within-24h"),
        pytest.param(timedelta(days=3), 202, "MESSAGE_TAG", "HUMAN_AGENT", id="3-days"),
        pytest.param(timedelta(days=8), 409, None, None, id="8-days"),
    ],
)
async def test_messenger_windows(client, engine, age, status, messaging_type, tag):
    psid = f"{uuid.uuid4().int % 10**16:016d}"
    await post(client, _messenger(psid, datetime.now(UTC) - age))
    conversation = await _conversation_of(client, identity=f"messenger:{psid}")

    response = await _reply(client, conversation["id"], {"text": "Hi"})

    assert response.status_code == status, response.text
    if status == 202:
        [dispatch] = await _dispatches(engine)
        assert dispatch.delivery["messaging_type"] == messaging_type
        assert dispatch.delivery["tag"] == tag
    else:
        assert response.json()["rule"] == "messenger-human-agent-7d"


async def test_after_a_merge_the_reply_goes_to_whoever_wrote_last(client, engine):
    await post(client, sms("+14155550111", "first number"))
    await post(client, sms("+14155550122", "second number, later"))
    keep = (
        await client.get(
            "/v1/customers", params={"phone": "+14155550111"}, headers=AUTH
        )
    ).json()["items"][0]
    gone = (
        await client.get(
            "/v1/customers", params={"phone": "+14155550122"}, headers=AUTH
        )
    ).json()["items"][0]
    merged = await client.post(
        f"/v1/customers/{keep['id']}/merge",
        json={"merge_customer_id": gone["id"]},
        headers=AUTH,
    )
    conversation = await _conversation_of(client, phone="+14155550111")

    response = await _reply(client, conversation["id"], {"text": "which number?"})

    assert merged.status_code == 200
    assert response.status_code == 202
    [dispatch] = await _dispatches(engine)
    assert dispatch.delivery["to"] == "+14155550122"


async def test_an_email_reply_threads_under_the_customers_message(client, engine):
    await post(
        client,
        email("Ana <ana@example.com>", "Invoice?", message_id="m1@mail.example.com"),
    )
    conversation = await _conversation_of(client, email="ana@example.com")

    response = await _reply(client, conversation["id"], {"text": "Attached."})

    assert response.status_code == 202
    [dispatch] = await _dispatches(engine)
    assert dispatch.provider == "mailgun"
    assert dispatch.delivery["reply_to"] == "m1@mail.example.com"
    assert dispatch.delivery["references"][-1] == "m1@mail.example.com"
    assert dispatch.delivery["subject"] == "Hello"
    assert dispatch.delivery["sender"] == "support@omniroute.example.com"


async def test_retry_is_409_unless_the_outcome_was_unknown_or_failed(client):
    await post(client, chat("v-retry", "hello"))
    conversation = await _conversation_of(client, identity="chat:v-retry")
    queued = await _reply(client, conversation["id"], {"text": "hi"})

    response = await client.post(
        f"/v1/messages/{queued.json()['id']}/retry", headers=AUTH
    )
    unknown = await client.post(f"/v1/messages/{uuid.uuid4()}/retry", headers=AUTH)

    assert response.status_code == 409
    assert response.json()["status"] == 409
    assert unknown.status_code == 404
