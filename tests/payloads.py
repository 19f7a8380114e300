"""Signed webhook builders for database and API tests (shapes follow tests/data/)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from app.webhook_client import (
    SignedRequest,
    chat_request,
    meta_request,
    mime_request,
    twilio_request,
)
from tests.conftest import PUBLIC_BASE_URL, SECRETS

ACCOUNT_SID = "AC" + "1" * 32


def sms(
    sender: str,
    body: str,
    sid: str | None = None,
    *,
    whatsapp: bool = False,
    media: tuple[tuple[str, str], ...] = (),
) -> SignedRequest:
    prefix = "whatsapp:" if whatsapp else ""
    params = [
        ("MessageSid", sid or "SM" + uuid.uuid4().hex),
        ("AccountSid", ACCOUNT_SID),
        ("From", prefix + sender),
        ("To", prefix + "+14155550000"),
        ("Body", body),
        ("NumMedia", str(len(media))),
    ]
    for i, (url, content_type) in enumerate(media):
        params += [(f"MediaUrl{i}", url), (f"MediaContentType{i}", content_type)]
    return twilio_request(PUBLIC_BASE_URL, str(SECRETS["twilio_auth_token"]), params)


def whatsapp(
    wa_id: str,
    body: str,
    wamid: str | None = None,
    *,
    name: str = "Ana",
    timestamp: int | None = None,
) -> SignedRequest:
    message = {
        "from": wa_id,
        "id": wamid or f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(timestamp or int(datetime.now(UTC).timestamp())),
        "type": "text",
        "text": {"body": body},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1234"},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [message],
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "999", "changes": [{"field": "messages", "value": value}]}],
    }
    return meta_request(str(SECRETS["meta_app_secret"]), document)


def chat(
    visitor_id: str,
    text: str,
    *,
    message_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    verified: bool = False,
    name: str | None = None,
    sent_at: str | None = None,
    locale: str | None = None,
) -> SignedRequest:
    visitor: dict[str, object] = {"id": visitor_id, "verified": verified}
    for key, value in (("email", email), ("phone", phone), ("name", name)):
        if value is not None:
            visitor[key] = value
    document: dict[str, object] = {
        "message_id": message_id or f"chat-{uuid.uuid4().hex}",
        "visitor": visitor,
        "text": text,
        "sent_at": sent_at or datetime.now(UTC).isoformat(),
    }
    if locale:
        document["locale"] = locale
    return chat_request(str(SECRETS["chat_webhook_secret"]), document)


def email(
    sender: str,
    body: str,
    *,
    message_id: str | None = None,
    subject: str = "Hello",
    in_reply_to: str | None = None,
    date: str = "Mon, 23 Nov 2026 10:00:00 +0000",
) -> SignedRequest:
    headers = [
        f"From: {sender}",
        "To: support@omniroute.example.com",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{message_id or uuid.uuid4().hex + '@mail.example.com'}>",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    raw = "\r\n".join(
        [*headers, "Content-Type: text/plain; charset=utf-8", "", body, ""]
    )
    return mime_request(str(SECRETS["email_webhook_secret"]), raw.encode())


async def post(client: httpx.AsyncClient, request: SignedRequest) -> httpx.Response:
    return await client.post(
        request.path, content=request.body, headers=request.headers
    )
