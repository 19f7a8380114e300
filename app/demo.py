"""`omniroute demo`: replay signed sample webhooks into a running instance, print timelines."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from app.webhook_client import (
    SignedRequest,
    chat_request,
    mailgun_request,
    meta_request,
    mime_request,
    twilio_request,
)


def _twilio(base: str, env: Mapping[str, str], sender: str, body: str) -> SignedRequest:
    params = [
        ("MessageSid", "SM" + uuid.uuid4().hex),
        ("AccountSid", "AC" + "0" * 32),
        ("From", sender),
        ("To", "+14155550000"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    return twilio_request(base, env["OMNIROUTE_TWILIO_AUTH_TOKEN"], params)


def _whatsapp(
    env: Mapping[str, str], wa_id: str, name: str, body: str
) -> SignedRequest:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550000000",
            "phone_number_id": "106540352242922",
        },
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": "wamid." + uuid.uuid4().hex,
                "timestamp": str(int(datetime.now(UTC).timestamp())),
                "type": "text",
                "text": {"body": body},
            }
        ],
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [{"field": "messages", "value": value}],
            }
        ],
    }
    return meta_request(env["OMNIROUTE_META_APP_SECRET"], document)


def _messenger(env: Mapping[str, str], psid: str, body: str) -> SignedRequest:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    document = {
        "object": "page",
        "entry": [
            {
                "id": "PAGE_ID",
                "time": now_ms,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "PAGE_ID"},
                        "timestamp": now_ms,
                        "message": {"mid": "m_" + uuid.uuid4().hex, "text": body},
                    }
                ],
            }
        ],
    }
    return meta_request(env["OMNIROUTE_META_APP_SECRET"], document)


def _chat(
    env: Mapping[str, str], visitor: Mapping[str, object], text: str
) -> SignedRequest:
    document = {
        "message_id": "chat-" + uuid.uuid4().hex,
        "visitor": dict(visitor),
        "text": text,
        "sent_at": datetime.now(UTC).isoformat(),
        "locale": "en-GB",
    }
    return chat_request(env["OMNIROUTE_CHAT_WEBHOOK_SECRET"], document)


def _email(
    env: Mapping[str, str],
    sender: str,
    subject: str,
    body: str,
    reply_to: str | None = None,
) -> tuple[SignedRequest, str]:
    message_id = f"{uuid.uuid4().hex}@mail.example.net"
    date = (datetime.now(UTC) - timedelta(seconds=1)).strftime(
        "%a, %d %b %Y %H:%M:%S +0000"
    )
    lines = [
        f"From: {sender}",
        "To: support@omniroute.example",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{message_id}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if reply_to:
        lines += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    raw = "\r\n".join([*lines, "", body, ""]).encode()
    return mime_request(env["OMNIROUTE_EMAIL_WEBHOOK_SECRET"], raw), message_id


def _scenario(base: str, env: Mapping[str, str]) -> list[SignedRequest]:
    """Maya uses SMS, WhatsApp and a verified chat; others write once or twice."""
    first_mail, first_id = _email(
        env,
        "Maya Patel <maya@example.org>",
        "Order 88123 missing",
        "Hi, my order 88123 has not arrived.",
    )
    reply, _ = _email(
        env,
        "Maya Patel <maya@example.org>",
        "Re: Order 88123 missing",
        "Any update?\n\nOn Mon, support wrote:\n> We are checking.",
        reply_to=first_id,
    )
    return [
        first_mail,
        _twilio(base, env, "+14155550123", "Texting as well: order 88123"),
        _whatsapp(env, "14155550123", "Maya", "Here is the WhatsApp too"),
        _chat(
            env,
            {
                "id": "visitor-maya",
                "name": "Maya Patel",
                "email": "maya@example.org",
                "phone": "+1 415 555 0123",
                "verified": True,
            },
            "Now in the web chat",
        ),
        reply,
        _twilio(base, env, "+442071838750", "Hello from London"),
        _messenger(env, "6857420824312345", "Is the shop open on Sunday?"),
        _chat(
            env,
            {"id": "visitor-anon", "email": "maya@example.org", "verified": False},
            "I am Maya (really?)",
        ),
        mailgun_request(
            env["OMNIROUTE_MAILGUN_SIGNING_KEY"],
            {
                "sender": "li.wei@example.com",
                "from": "Li Wei <li.wei@example.com>",
                "recipient": "support@omniroute.example",
                "subject": "Refund",
                "body-plain": "Please refund order 77.",
                "stripped-text": "Please refund order 77.",
                "Message-Id": f"<{uuid.uuid4().hex}@example.com>",
            },
        ),
    ]


async def run(url: str, env: Mapping[str, str]) -> None:
    base = env.get("OMNIROUTE_PUBLIC_BASE_URL", url).rstrip("/")
    token = env["OMNIROUTE_API_TOKENS"].split(",")[0].strip()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for request in _scenario(base, env):
            response = await client.post(
                request.path, content=request.body, headers=request.headers
            )
            print(f"POST {request.path:<26} -> {response.status_code}")
            response.raise_for_status()
        auth = {"Authorization": f"Bearer {token}"}
        for query in (
            {"email": "maya@example.org"},
            {"phone": "+44 20 7183 8750"},
            {"identity": "messenger:6857420824312345"},
            {"identity": "chat:visitor-anon"},
            {"email": "li.wei@example.com"},
        ):
            await _print_customer(client, auth, query)


async def _print_customer(
    client: httpx.AsyncClient, auth: dict[str, str], query: dict[str, str]
) -> None:
    found = (await client.get("/v1/customers", params=query, headers=auth)).json()[
        "items"
    ]
    for customer in found:
        identities = ", ".join(
            f"{i['kind']}:{i['value']}{'' if i['verified'] else ' (unverified)'}"
            for i in customer["identities"]
        )
        print(f"\n== {customer['display_name'] or '(no name)'}  {customer['id']}")
        print(f"   identities: {identities}")
        timeline = (
            await client.get(f"/v1/customers/{customer['id']}/timeline", headers=auth)
        ).json()
        for m in reversed(timeline["items"]):
            print(
                f"   {m['sent_at'][:19]}  {m['channel']:<9} conv {m['conversation_id'][:8]}"
                f"  {m['text'][:60]!r}"
            )
