"""The devtools payload builders bound to the test secrets and public base URL."""

from __future__ import annotations

from functools import partial

import httpx

from devtools.payloads import (
    SignedRequest,
    chat_message,
    mime_email,
    telegram_message,
    twilio_message,
    whatsapp_message,
)
from tests.conftest import PUBLIC_BASE_URL, SECRETS

sms = partial(twilio_message, PUBLIC_BASE_URL, str(SECRETS["twilio_auth_token"]))
chat = partial(chat_message, str(SECRETS["chat_webhook_secret"]))
TELEGRAM_SECRET = str(SECRETS["telegram_secret_token"])
telegram = partial(telegram_message, TELEGRAM_SECRET)


def whatsapp(
    wa_id: str,
    body: str,
    wamid: str | None = None,
    *,
    name: str = "Ana",
    timestamp: int | None = None,
) -> SignedRequest:
    secret = str(SECRETS["meta_app_secret"])
    return whatsapp_message(secret, wa_id, body, wamid, name=name, timestamp=timestamp)


def email(
    sender: str,
    body: str,
    *,
    message_id: str | None = None,
    subject: str = "Hello",
    in_reply_to: str | None = None,
    date: str = "Mon, 23 Nov 2026 10:00:00 +0000",
) -> SignedRequest:
    return mime_email(
        str(SECRETS["email_webhook_secret"]),
        sender,
        body,
        message_id=message_id,
        subject=subject,
        in_reply_to=in_reply_to,
        date=date,
    )


async def post(client: httpx.AsyncClient, request: SignedRequest) -> httpx.Response:
    return await client.post(
        request.path, content=request.body, headers=request.headers
    )
