"""`omniroute demo`: replay signed sample webhooks into a running instance, print timelines."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from devtools.payloads import (
    SignedRequest,
    chat_message,
    mailgun_email,
    messenger_message,
    mime_email,
    twilio_message,
    whatsapp_message,
)


def _scenario(base: str, env: Mapping[str, str]) -> list[SignedRequest]:
    """Maya uses SMS, WhatsApp and a verified chat; others write once or twice."""
    twilio, meta = env["OMNIROUTE_TWILIO_AUTH_TOKEN"], env["OMNIROUTE_META_APP_SECRET"]
    chat, mime = (
        env["OMNIROUTE_CHAT_WEBHOOK_SECRET"],
        env["OMNIROUTE_EMAIL_WEBHOOK_SECRET"],
    )
    maya = "Maya Patel <maya@example.org>"
    first_id = f"{uuid.uuid4().hex}@mail.example.net"
    a_second_ago = datetime.now(UTC) - timedelta(seconds=1)
    return [
        mime_email(
            mime,
            maya,
            "Hi, my order 88123 has not arrived.",
            message_id=first_id,
            subject="Order 88123 missing",
            date=a_second_ago,
        ),
        twilio_message(base, twilio, "+14155550123", "Texting as well: order 88123"),
        whatsapp_message(meta, "14155550123", "Here is the WhatsApp too", name="Maya"),
        chat_message(
            chat,
            "visitor-maya",
            "Now in the web chat",
            name="Maya Patel",
            email="maya@example.org",
            phone="+1 415 555 0123",
            verified=True,
            locale="en-GB",
        ),
        mime_email(
            mime,
            maya,
            "Any update?\n\nOn Mon, support wrote:\n> We are checking.",
            subject="Re: Order 88123 missing",
            in_reply_to=first_id,
            date=a_second_ago,
        ),
        twilio_message(base, twilio, "+442071838750", "Hello from London"),
        messenger_message(meta, "6857420824312345", "Is the shop open on Sunday?"),
        chat_message(
            chat,
            "visitor-anon",
            "I am Maya (really?)",
            email="maya@example.org",
            locale="en-GB",
        ),
        mailgun_email(
            env["OMNIROUTE_MAILGUN_SIGNING_KEY"],
            "li.wei@example.com",
            "Please refund order 77.",
            name="Li Wei",
            subject="Refund",
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
