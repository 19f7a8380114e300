"""Correctly signed provider webhook requests, shaped as each provider sends them.

The one set of builders behind `omniroute demo`, the tests and the benchmarks. The
`*_request` functions sign a body with the connectors' own functions, so there is one
implementation of each scheme; the message builders above them fill in the fields
each provider documents, after the samples in tests/data/<provider>/.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final
from urllib.parse import urlencode

from connectors import mailgun, telegram, twilio
from connectors.signing import sign_body

OUR_NUMBER: Final = "+14155550000"
SUPPORT_ADDRESS: Final = "support@omniroute.example.com"
ACCOUNT_SID: Final = "AC" + "0" * 32
# The WhatsApp Business account and number of Meta's own examples, and the page and
# Instagram account ids of our Meta samples (tests/data/meta/SOURCES.md).
WABA_ID: Final = "102290129340398"
PHONE_NUMBER_ID: Final = "106540352242922"
PAGE_ID: Final = "107712345678901"
INSTAGRAM_ACCOUNT_ID: Final = "17841405822304914"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    path: str
    body: bytes
    headers: dict[str, str]


# ------------------------------------------------------------------ signing layer


def twilio_request(
    public_base_url: str, auth_token: str, params: Sequence[tuple[str, str]]
) -> SignedRequest:
    """A form POST to our Twilio endpoint, signed for the URL Twilio would call."""
    path = "/webhooks/twilio/sms"
    signature = twilio.expected_signature(
        public_base_url + path, list(params), auth_token
    )
    return SignedRequest(
        path,
        urlencode(list(params)).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def meta_request(app_secret: str, document: Mapping[str, object]) -> SignedRequest:
    return _json_request("/webhooks/meta", "X-Hub-Signature-256", app_secret, document)


def chat_request(secret: str, document: Mapping[str, object]) -> SignedRequest:
    return _json_request("/webhooks/chat", "X-Omniroute-Signature", secret, document)


def mime_request(secret: str, raw_message: bytes) -> SignedRequest:
    return SignedRequest(
        "/webhooks/email/mime",
        raw_message,
        {
            "Content-Type": "message/rfc822",
            "X-Omniroute-Signature": sign_body(raw_message, secret),
        },
    )


def mailgun_request(
    signing_key: str,
    fields: Mapping[str, str],
    *,
    timestamp: int | None = None,
    token: str | None = None,
) -> SignedRequest:
    """Urlencoded Mailgun forward, signed with a fresh timestamp and token."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = token or secrets.token_hex(25)
    signed = {
        **fields,
        "timestamp": stamp,
        "token": nonce,
        "signature": mailgun.sign(stamp, nonce, signing_key),
    }
    return SignedRequest(
        "/webhooks/email/mailgun",
        urlencode(signed).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )


def telegram_request(secret_token: str, update: Mapping[str, object]) -> SignedRequest:
    """An Update as the Bot API posts it: the setWebhook secret_token in a header."""
    # https://core.telegram.org/bots/api#setwebhook
    return SignedRequest(
        "/webhooks/telegram",
        json.dumps(update).encode(),
        {
            "Content-Type": "application/json",
            telegram.SECRET_HEADER: secret_token,
        },
    )


def _json_request(
    path: str, header: str, secret: str, document: Mapping[str, object]
) -> SignedRequest:
    body = json.dumps(document).encode()
    return SignedRequest(
        path,
        body,
        {"Content-Type": "application/json", header: sign_body(body, secret)},
    )


# --------------------------------------------------------------- message builders


def twilio_message(
    public_base_url: str,
    auth_token: str,
    sender: str,
    body: str,
    sid: str | None = None,
    *,
    whatsapp: bool = False,
    media: Sequence[tuple[str, str]] = (),
    profile_name: str | None = None,
    to: str = OUR_NUMBER,
) -> SignedRequest:
    """An inbound SMS, MMS (`media` of (url, content type)) or WhatsApp message."""
    # https://www.twilio.com/docs/messaging/guides/webhook-request
    sid = sid or "SM" + uuid.uuid4().hex
    prefix = "whatsapp:" if whatsapp else ""
    params = [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", str(len(media))),
    ]
    for i, (_, content_type) in enumerate(media):
        params.append((f"MediaContentType{i}", content_type))
    if whatsapp:  # WhatsApp adds the sender's wa_id, and its profile name if shared
        params.append(("WaId", sender.removeprefix("+")))
        params += [("ProfileName", profile_name)] if profile_name else []
    params += [
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", prefix + to),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", prefix + sender),
    ]
    params += [(f"MediaUrl{i}", url) for i, (url, _) in enumerate(media)]
    params.append(("ApiVersion", "2010-04-01"))
    return twilio_request(public_base_url, auth_token, params)


def whatsapp_message(
    app_secret: str,
    wa_id: str,
    body: str,
    wamid: str | None = None,
    *,
    name: str,
    timestamp: int | None = None,
    business_number: str = OUR_NUMBER,
) -> SignedRequest:
    """A WhatsApp Cloud API text message from `wa_id` (digits, no `+`)."""
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
    message = {
        "from": wa_id,
        "id": wamid or f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(timestamp or int(datetime.now(UTC).timestamp())),
        "type": "text",
        "text": {"body": body},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": business_number.removeprefix("+"),
            "phone_number_id": PHONE_NUMBER_ID,
        },
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [message],
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }
    return meta_request(app_secret, document)


def messenger_message(
    app_secret: str, psid: str, text: str, mid: str | None = None
) -> SignedRequest:
    """A Messenger text message from the page-scoped id `psid`."""
    # https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/messages
    return _messaging(app_secret, "page", PAGE_ID, psid, text, mid)


def instagram_message(
    app_secret: str, igsid: str, text: str, mid: str | None = None
) -> SignedRequest:
    """An Instagram direct message from the Instagram-scoped id `igsid`."""
    # https://developers.facebook.com/docs/instagram-platform/webhooks/examples
    return _messaging(app_secret, "instagram", INSTAGRAM_ACCOUNT_ID, igsid, text, mid)


def _messaging(
    app_secret: str, kind: str, recipient: str, sender: str, text: str, mid: str | None
) -> SignedRequest:
    """Messenger and Instagram share the `messaging` event shape under `object`."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    event = {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": now_ms,
        "message": {"mid": mid or "m_" + uuid.uuid4().hex, "text": text},
    }
    document = {
        "object": kind,
        "entry": [{"id": recipient, "time": now_ms, "messaging": [event]}],
    }
    return meta_request(app_secret, document)


def chat_message(
    secret: str,
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
    """A chat widget message; the contract is ours (connectors/chat.py)."""
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
    return chat_request(secret, document)


def telegram_message(
    secret_token: str,
    user_id: int,
    text: str | None,
    *,
    message_id: int | None = None,
    chat_id: int | None = None,
    update_id: int | None = None,
    first_name: str = "Ana",
    last_name: str | None = None,
    language_code: str | None = None,
    date: int | None = None,
    edit_date: int | None = None,
    contact: Mapping[str, object] | None = None,
) -> SignedRequest:
    """A `message` Update from user `user_id` (in their private chat unless `chat_id`).

    With `edit_date` it is an `edited_message` Update: the new version of the message
    `message_id`, edited then. `contact` is a Contact object (phone_number, user_id).
    """
    # https://core.telegram.org/bots/api#update, #message
    sender: dict[str, object] = {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
    }
    if last_name:
        sender["last_name"] = last_name
    if language_code:
        sender["language_code"] = language_code
    message: dict[str, object] = {
        "message_id": message_id or secrets.randbelow(2**31),
        "from": sender,
        "chat": {
            "id": chat_id or user_id,
            "type": "private" if chat_id in (None, user_id) else "group",
        },
        "date": date or int(datetime.now(UTC).timestamp()),
    }
    if text is not None:
        message["text"] = text
    if contact is not None:
        message["contact"] = {"first_name": first_name, **contact}
    if edit_date is not None:
        message["edit_date"] = edit_date
    kind = "message" if edit_date is None else "edited_message"
    update = {"update_id": update_id or secrets.randbelow(2**31), kind: message}
    return telegram_request(secret_token, update)


def mime_email(
    secret: str,
    sender: str,
    body: str,
    *,
    message_id: str | None = None,
    subject: str = "Hello",
    in_reply_to: str | None = None,
    date: datetime | str | None = None,
    to: str = SUPPORT_ADDRESS,
) -> SignedRequest:
    """A plain-text RFC 5322 message, as a mail server pipes it to our MIME relay.

    `date` is the Date header: now when omitted, a string is sent verbatim.
    """
    headers = _email_headers(sender, to, subject, message_id, in_reply_to, date)
    lines = [f"{name}: {value}" for name, value in headers]
    lines += ["Content-Transfer-Encoding: 8bit", "", body, ""]
    return mime_request(secret, "\r\n".join(lines).encode())


def mailgun_email(
    signing_key: str,
    sender: str,
    body: str,
    *,
    name: str | None = None,
    message_id: str | None = None,
    subject: str = "Hello",
    recipient: str = SUPPORT_ADDRESS,
) -> SignedRequest:
    """A plain-text email as Mailgun's route `forward()` posts it, freshly signed."""
    # https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http
    from_ = f"{name} <{sender}>" if name else sender
    headers = _email_headers(from_, recipient, subject, message_id, None, None)
    fields = {
        "recipient": recipient,
        "sender": sender,
        "from": from_,
        "subject": subject,
        "body-plain": body,
        "stripped-text": body,
        "message-headers": json.dumps([list(pair) for pair in headers]),
    }
    return mailgun_request(signing_key, fields)


def _email_headers(
    sender: str,
    to: str,
    subject: str,
    message_id: str | None,
    in_reply_to: str | None,
    date: datetime | str | None,
) -> list[tuple[str, str]]:
    message_id = message_id or f"{uuid.uuid4().hex}@mail.example.net"
    if not isinstance(date, str):
        date = format_datetime(date or datetime.now(UTC))
    headers = [
        ("From", sender),
        ("To", to),
        ("Subject", subject),
        ("Date", date),
        ("Message-ID", f"<{message_id}>"),
    ]
    if in_reply_to:
        headers += [
            ("In-Reply-To", f"<{in_reply_to}>"),
            ("References", f"<{in_reply_to}>"),
        ]
    return [
        *headers,
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ]
