"""The one table of webhook connectors: inbound messages, and the delivery statuses of
ours. Adding a channel touches its module and this tuple."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from connectors import (
    chat,
    mailgun,
    mailgun_events,
    meta,
    mime,
    telegram,
    twilio,
    twilio_status,
)
from connectors.model import Parsed, WebhookRequest


@dataclass(frozen=True, slots=True)
class Ack:
    """The 200 body a provider expects once we have stored its message."""

    body: bytes = b'{"status":"accepted"}'
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Connector:
    name: str  # used in logs, metrics and problem documents
    path: str
    secret_setting: str  # Settings field; when unset the route answers 503
    verify: Callable[[WebhookRequest, str], None]
    # Valid messages plus the ones refused one by one, and delivery statuses; raises
    # PayloadInvalid only for a body that cannot be read. Every message has been
    # through sanitize, every status through delivery_status.clean.
    parse: Callable[[bytes, Mapping[str, str]], Parsed]
    ack: Ack = Ack()
    # A value that must be accepted only once (Mailgun's token); app/ records it
    # in the same transaction as the message.
    replay_key: Callable[[bytes, Mapping[str, str]], str] | None = None
    # MIME is parsed in Python (email.feedparser): app/ parses such bodies off the
    # event loop at any size, others only when large.
    has_mime_body: bool = False


CONNECTORS: Final = (
    Connector(
        "twilio",
        "/webhooks/twilio/sms",
        "twilio_auth_token",
        twilio.verify,
        twilio.parse,
        Ack(twilio.ACK_BODY, "text/xml"),
    ),
    # The StatusCallback of our sends (app/dispatch/senders.py), signed the same way.
    Connector(
        "twilio_status",
        "/webhooks/twilio/status",
        "twilio_auth_token",
        twilio.verify,
        twilio_status.parse,
        Ack(twilio.ACK_BODY, "text/xml"),
    ),
    Connector("meta", "/webhooks/meta", "meta_app_secret", meta.verify, meta.parse),
    Connector(
        "mailgun",
        "/webhooks/email/mailgun",
        "mailgun_signing_key",
        mailgun.verify,
        mailgun.parse,
        replay_key=mailgun.replay_key,
        has_mime_body=True,  # multipart/form-data is read as MIME
    ),
    # No replay_key: a status applied twice changes nothing (outbound.statuses), and
    # Mailgun retries an event until it gets a 2xx.
    Connector(
        "mailgun_events",
        "/webhooks/email/mailgun/events",
        "mailgun_signing_key",
        mailgun_events.verify,
        mailgun_events.parse,
    ),
    Connector(
        "mime",
        "/webhooks/email/mime",
        "email_webhook_secret",
        mime.verify,
        mime.parse,
        has_mime_body=True,
    ),
    Connector("chat", "/webhooks/chat", "chat_webhook_secret", chat.verify, chat.parse),
    # No replay_key: Telegram redelivers an update with the same update_id until it
    # gets a 2xx, and that must be a duplicate 200; the message key dedups it.
    Connector(
        "telegram",
        "/webhooks/telegram",
        "telegram_secret_token",
        telegram.verify,
        telegram.parse,
    ),
)
