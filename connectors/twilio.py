"""Twilio Programmable Messaging inbound webhook: SMS, MMS and WhatsApp.

Request parameters: https://www.twilio.com/docs/messaging/guides/webhook-request
Signature: https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final, TypeAlias
from urllib.parse import parse_qsl, urlsplit

from connectors.model import (
    Attachment,
    Channel,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)

__all__ = [
    "ACK_BODY",
    "PROVIDER",
    "Params",
    "expected_signature",
    "parse",
    "verify",
]

PROVIDER: Final = "twilio"
# Empty TwiML: "received, no reply". Twilio expects TwiML back from a messaging
# webhook (https://www.twilio.com/docs/messaging/twiml).
ACK_BODY: Final = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

_SIGNATURE_HEADER: Final = "x-twilio-signature"
_WHATSAPP_PREFIX: Final = "whatsapp:"

Params: TypeAlias = Sequence[tuple[str, str]] | Mapping[str, str]


def expected_signature(url: str, params: Params, auth_token: str) -> str:
    """The X-Twilio-Signature Twilio sends for a POST of `params` to `url`."""
    pairs = params.items() if isinstance(params, Mapping) else params
    # Names sorted, each immediately followed by its value; a repeated name's values
    # are sorted too, as twilio-python's RequestValidator.compute_signature does.
    signed = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(req: WebhookRequest, secret: str) -> None:
    """Raise unless X-Twilio-Signature matches `req.url` and its form under `secret`."""
    given = req.headers.get(_SIGNATURE_HEADER)
    if not given:
        raise SignatureInvalid("X-Twilio-Signature header is missing")
    try:
        params = _pairs(req.body)
    except PayloadInvalid as exc:
        raise SignatureInvalid("the request body is not UTF-8 form data") from exc
    candidates = (expected_signature(url, params, secret) for url in _urls(req.url))
    if not any(hmac.compare_digest(given.encode(), c.encode()) for c in candidates):
        raise SignatureInvalid("X-Twilio-Signature does not match this request")


def parse(body: bytes, headers: Mapping[str, str]) -> list[InboundMessage]:
    """The one message of an inbound SMS, MMS or WhatsApp webhook."""
    form = dict(_pairs(body))
    sender = _required(form, "From")
    attachments = _media(form)
    message = InboundMessage(
        provider=PROVIDER,
        provider_message_id=_message_sid(form),
        channel=_channel(sender),
        sender=_sender(sender, form.get("ProfileName")),
        text=form.get("Body", ""),
        attachments=attachments,
        recipient=_address(form["To"]) if form.get("To") else None,
        content_type="media" if attachments else "text",
    )
    return [message]


def _pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadInvalid("body", "is not UTF-8") from exc
    # Blank values are signed too, so they must be kept.
    return parse_qsl(text, keep_blank_values=True)


def _urls(url: str) -> tuple[str, ...]:
    """`url` and its other spelling: port removed, or the scheme's default added."""
    # twilio-python's RequestValidator.validate accepts either, since Twilio's
    # signing "is inconsistent" about ports.
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number: nothing to normalize
        return (url,)
    if port is not None:
        netloc = parts.netloc.rsplit(":", 1)[0]
    else:
        netloc = f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}"
    return url, parts._replace(netloc=netloc).geturl()


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise PayloadInvalid(name, "is required")
    return value


def _message_sid(form: Mapping[str, str]) -> str:
    # SmsMessageSid is the legacy name Twilio still sends alongside MessageSid.
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    if not sid:
        raise PayloadInvalid("MessageSid", "is required")
    return sid


def _channel(from_: str) -> Channel:
    # WhatsApp addresses are prefixed: "whatsapp:+14155238886".
    return Channel.whatsapp if from_.startswith(_WHATSAPP_PREFIX) else Channel.sms


def _address(value: str) -> str:
    return value.removeprefix(_WHATSAPP_PREFIX)


def _sender(from_: str, profile_name: str | None) -> IdentityClaim:
    phone = _address(from_)
    if not phone:
        raise PayloadInvalid("From", "has no address after the channel prefix")
    # Raw here; the app canonicalizes to E.164 (short codes become phone_raw).
    return IdentityClaim(
        kind=IdentityKind.phone, value=phone, name=profile_name or None
    )


def _media(form: Mapping[str, str]) -> tuple[Attachment, ...]:
    count = _media_count(form.get("NumMedia") or "0")
    return tuple(_attachment(form, index) for index in range(count))


def _media_count(raw: str) -> int:
    try:
        count = int(raw)
    except ValueError:
        count = -1
    if count < 0:
        raise PayloadInvalid("NumMedia", "must be a non-negative integer")
    return count


def _attachment(form: Mapping[str, str], index: int) -> Attachment:
    url = _required(form, f"MediaUrl{index}")
    # .../Messages/MMxxx/Media/MExxx: the last segment is the Media SID
    # (https://www.twilio.com/docs/messaging/api/media-resource).
    media_sid = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return Attachment(
        url=url,
        content_type=form.get(f"MediaContentType{index}") or None,
        provider_media_id=media_sid or None,
    )
