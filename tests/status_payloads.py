"""Signed delivery-status webhooks, shaped after tests/data/{twilio_status,meta,
mailgun_events}, and the outbound message they report on."""

from __future__ import annotations

import json
import math
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from app.replies.status import record_status
from app.repositories.replies import Replies
from connectors import mailgun, twilio
from devtools.payloads import SignedRequest, meta_request
from outbound.model import Status
from tests.conftest import AUTH, PUBLIC_BASE_URL, SECRETS
from tests.payloads import post

TWILIO_STATUS_PATH = "/webhooks/twilio/status"
MAILGUN_EVENTS_PATH = "/webhooks/email/mailgun/events"
PAGE_ID = "1234567890"


def twilio_sid() -> str:
    return "SM" + uuid.uuid4().hex


def twilio_status(
    sid: str, status: str, *, error_code: str | None = None
) -> SignedRequest:
    """A status callback as Twilio POSTs it to our StatusCallback URL."""
    params = [
        ("AccountSid", "AC" + "0" * 32),
        ("ApiVersion", "2010-04-01"),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        *([("ErrorCode", error_code)] if error_code else []),
    ]
    signature = twilio.expected_signature(
        PUBLIC_BASE_URL + TWILIO_STATUS_PATH,
        params,
        str(SECRETS["twilio_auth_token"]),
    )
    return SignedRequest(
        TWILIO_STATUS_PATH,
        urlencode(params).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def _meta(document: dict[str, object]) -> SignedRequest:
    return meta_request(str(SECRETS["meta_app_secret"]), document)


def whatsapp_statuses(*statuses: dict[str, object]) -> SignedRequest:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881"},
        "statuses": list(statuses),
    }
    return _meta(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
        }
    )  # fmt: skip


def wa_status(
    wamid: str, status: str, *, errors: Sequence[dict[str, object]] = ()
) -> dict[str, object]:
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": "16505551234",
        **({"errors": list(errors)} if errors else {}),
    }


def messenger_receipt(
    psid: str, kind: str, watermark: datetime, mids: Sequence[str] = ()
) -> SignedRequest:
    """A `delivery` or `read` event: every message sent up to `watermark`."""
    # Rounded up: a message sent in the watermark's millisecond is covered.
    receipt: dict[str, object] = {"watermark": math.ceil(watermark.timestamp() * 1000)}
    if mids:
        receipt["mids"] = list(mids)
    event = {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        kind: receipt,
    }
    return _meta({"object": "page", "entry": [{"id": PAGE_ID, "messaging": [event]}]})


def messenger_message(psid: str, text: str = "hello page") -> SignedRequest:
    ms = int(time.time() * 1000)
    event = {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": ms,
        "message": {"mid": "m_" + uuid.uuid4().hex, "text": text},
    }
    return _meta(
        {"object": "page", "entry": [{"id": PAGE_ID, "time": ms, "messaging": [event]}]}
    )


def mailgun_event(
    event: str,
    *,
    ours: str | None = None,
    message_id: str | None = None,
    severity: str | None = None,
    code: int | None = None,
    text: str | None = None,
) -> SignedRequest:
    """One event webhook, freshly signed like anymail's mailgun_sign_payload."""
    stamp, token = str(int(time.time())), secrets.token_hex(25)
    data: dict[str, object] = {
        "event": event,
        "timestamp": time.time(),
        "recipient": "ana@example.com",
        "message": {"headers": {"message-id": message_id or f"{uuid.uuid4()}@mg"}},
        "user-variables": {"omniroute-message-id": ours} if ours else {},
        "delivery-status": {"code": code or 250, "message": text or "OK"},
        **({"severity": severity} if severity else {}),
    }
    signature = mailgun.sign(stamp, token, str(SECRETS["mailgun_signing_key"]))
    document = {
        "signature": {"timestamp": stamp, "token": token, "signature": signature},
        "event-data": data,
    }
    return SignedRequest(
        MAILGUN_EVENTS_PATH,
        json.dumps(document).encode(),
        {"Content-Type": "application/json"},
    )


async def conversation_of(client: httpx.AsyncClient, **query: str) -> dict[str, str]:
    found = await client.get("/v1/customers", params=query, headers=AUTH)
    [customer] = found.json()["items"]
    listing = await client.get(
        "/v1/conversations",
        params={"customer_id": customer["id"], "status": "open"},
        headers=AUTH,
    )
    [conversation] = listing.json()["items"]
    return dict(conversation)


async def reply(
    client: httpx.AsyncClient, conversation_id: str, text: str = "On its way."
) -> dict[str, object]:
    response = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"text": text, "agent_id": "ana"},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    message: dict[str, object] = response.json()
    return message


async def mark_sent(app: FastAPI, message_id: object, provider_message_id: str) -> None:
    """What the dispatcher records when the provider accepts the send."""
    async with app.state.db.transaction() as conn:
        row = await Replies(conn).lock(uuid.UUID(str(message_id)))
        assert row is not None
        await record_status(
            conn,
            app.state.events,
            row,
            Status.sent,
            datetime.now(UTC),
            provider_message_id=provider_message_id,
        )


async def sent_reply(
    client: httpx.AsyncClient,
    app: FastAPI,
    inbound: SignedRequest,
    provider_message_id: str | None,
    **customer: str,
) -> dict[str, object]:
    """An inbound message, the agent's reply to it, and (with an id) its send."""
    assert (await post(client, inbound)).status_code == 200
    conversation = await conversation_of(client, **customer)
    message = await reply(client, conversation["id"])
    if provider_message_id is not None:
        await mark_sent(app, message["id"], provider_message_id)
    return message


async def timeline_message(
    client: httpx.AsyncClient, message: dict[str, object]
) -> dict[str, object]:
    response = await client.get(
        f"/v1/customers/{message['customer_id']}/timeline", headers=AUTH
    )
    [found] = [m for m in response.json()["items"] if m["id"] == message["id"]]
    return dict(found)
