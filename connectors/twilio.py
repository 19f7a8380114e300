"""Twilio Programmable Messaging inbound webhook: SMS, MMS and WhatsApp.

Request parameters: https://www.twilio.com/docs/messaging/guides/webhook-request
Signature: https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Final, TypeAlias
from urllib.parse import parse_qsl, urlsplit

from connectors import sanitize
from connectors.model import (
    Attachment,
    Channel,
    FormLimits,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from connectors.signing import as_bytes

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
# SID formats from Twilio's API reference (Media subresource, error 90001): a
# two-letter prefix and 32 hex digits. A signature covers names and values run
# together, so `MessageSid=<sid>NumMedia2` with NumMedia dropped still verifies;
# only the SID's own shape tells that capture apart from a new message.
_MESSAGE_SID: Final = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
_ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}")
# Legacy names Twilio still sends, with the same value as MessageSid.
_SID_FIELDS: Final = ("MessageSid", "SmsMessageSid", "SmsSid")
# "up to 10 media files" (https://www.twilio.com/docs/messaging/api/media-resource)
_MAX_MEDIA: Final = 10
_NUM_MEDIA: Final = re.compile(r"[0-9]{1,2}")
_MEDIA_URL: Final = re.compile(r"MediaUrl([0-9]+)")

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
    _check_bounds(req.body, req.form_limits)
    try:
        params = _pairs(req.body)
    except PayloadInvalid as exc:
        raise SignatureInvalid("the request body is not UTF-8 form data") from exc
    try:
        candidates = [expected_signature(u, params, secret) for u in _urls(req.url)]
    except UnicodeError as exc:  # a URL that cannot be UTF-8: nothing was signed
        raise SignatureInvalid("the request URL is not UTF-8") from exc
    signature = as_bytes(given)
    if not any(hmac.compare_digest(signature, c.encode()) for c in candidates):
        raise SignatureInvalid("X-Twilio-Signature does not match this request")


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The one message of an inbound SMS, MMS or WhatsApp webhook."""
    form = dict(_pairs(body))
    sender = _required(form, "From")
    sid = _message_sid(form)  # first: a re-split capture is named by its SID
    _check_account_sid(form)
    attachments = _media(form)
    message = InboundMessage(
        provider=PROVIDER,
        provider_message_id=sid,
        channel=_channel(sender),
        sender=_sender(sender, form.get("ProfileName")),
        text=form.get("Body", ""),
        attachments=attachments,
        recipient=_address(form["To"]) if form.get("To") else None,
        content_type="media" if attachments else "text",
    )
    return sanitize.single(message)


def _check_bounds(body: bytes, limits: FormLimits) -> None:
    """Refuse a form larger than Twilio sends before parsing it for the signature.

    The signature covers the sorted fields, so checking it means parsing the whole
    form, in Python; an unsigned 10 MB form of a million fields took 1.1 s of the
    event loop. Counting `&` and measuring run in C. Refused as 401: nothing about
    the request could be authenticated, and Twilio itself sends ~40 fields.
    """
    if len(body) > limits.max_bytes:
        reason = f"the form exceeds {limits.max_bytes} bytes; not checked"
        raise SignatureInvalid(reason)
    if body.count(b"&") >= limits.max_fields:
        reason = f"the form has more than {limits.max_fields} fields; not checked"
        raise SignatureInvalid(reason)


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
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # not a number, or a bad IPv6 host: nothing to normalize
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
    """MessageSid, else a legacy name; every one present must be the same valid SID."""
    present = [(name, form[name]) for name in _SID_FIELDS if form.get(name)]
    if not present:
        raise PayloadInvalid("MessageSid", "is required")
    name, sid = present[0]
    for other, value in present:
        if not _MESSAGE_SID.fullmatch(value):
            raise PayloadInvalid(other, "is not a Message SID (SM or MM + 32 hex)")
        if value != sid:
            raise PayloadInvalid(other, f"differs from {name}")
    return sid


def _check_account_sid(form: Mapping[str, str]) -> None:
    account = form.get("AccountSid")
    if account is not None and not _ACCOUNT_SID.fullmatch(account):
        raise PayloadInvalid("AccountSid", "is not an Account SID (AC + 32 hex)")


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
    # A MediaUrlN that NumMedia does not count: the form was re-split or edited.
    for name in form:
        match = _MEDIA_URL.fullmatch(name)
        if match and (len(match[1]) > 2 or int(match[1]) >= count):
            # The name is as long as the sender made it: bound it for logs.
            raise PayloadInvalid(name[:32], f"beyond NumMedia={count}")
    return tuple(_attachment(form, index) for index in range(count))


def _media_count(raw: str) -> int:
    # ASCII digits only: int() would also take "+1", " 1", "1_0" and other scripts' digits.
    if not _NUM_MEDIA.fullmatch(raw) or int(raw) > _MAX_MEDIA:
        raise PayloadInvalid("NumMedia", f"must be an integer from 0 to {_MAX_MEDIA}")
    return int(raw)


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
