"""Mailgun inbound routes with the forward() action: one parsed email per POST.

Fields: https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http
Signature: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Final
from urllib.parse import parse_qsl

from pydantic import TypeAdapter, ValidationError

from connectors import sanitize
from connectors.email_text import (
    MAX_ATTACHMENTS,
    MAX_PARTS,
    attachment_filename,
    email_claim,
    email_headers,
    header_param,
    html_to_text,
    parse_date,
    part_bytes,
    part_text,
    read_message,
    reply_and_full,
    subparts,
)
from connectors.form_fields import read_fields
from connectors.model import (
    Attachment,
    Channel,
    FormLimits,
    IdentityClaim,
    InboundMessage,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from connectors.signing import as_bytes

_MAX_SKEW_SECONDS: Final = 15 * 60
_LIMIT: Final = f"(limit {_MAX_SKEW_SECONDS} s)"
_SIGNED_FIELDS: Final = ("timestamp", "token", "signature")
# replay_key runs after verify has read the same fields under the request's limits.
_LIMITS: Final = FormLimits(max_fields=MAX_PARTS)
# Mailgun's tokens are 50 random characters. Bounded and printable, the replay key
# app/ stores can hold no NUL and always fits its index.
_TOKEN: Final = re.compile(r"[\x21-\x7e]{1,256}")
_UNIX_SECONDS: Final = re.compile(r"[0-9]{1,12}")  # bounded, so int() stays cheap
_ATTACHMENT_NAME: Final = re.compile(r"attachment-([1-9][0-9]*)")
_HEADER_PAIRS: Final = TypeAdapter(list[tuple[str, str]])


@dataclass(frozen=True, slots=True)
class _Form:
    fields: Mapping[str, str]
    files: Mapping[str, Attachment]


def sign(timestamp: str, token: str, signing_key: str) -> str:
    """Mailgun's signature: hex HMAC-SHA256 of `timestamp + token` under the signing key."""
    message = (timestamp + token).encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def verify(req: WebhookRequest, secret: str) -> None:
    """Check the signature and that `timestamp` is within 15 minutes of receipt."""
    timestamp, token, signature = _signed_fields(req)
    if not _TOKEN.fullmatch(token):  # app/ stores it in a btree-indexed text key
        raise SignatureInvalid("token is not 1 to 256 printable ASCII characters")
    expected = sign(timestamp, token, secret).encode()
    if not hmac.compare_digest(expected, as_bytes(signature.strip().lower())):
        raise SignatureInvalid("signature does not match timestamp and token")
    _check_fresh(timestamp, req.received_at)


def replay_key(body: bytes, headers: Mapping[str, str]) -> str:
    """The `token`: Mailgun's docs say to accept each one only once."""
    # Read as verify reads it, so the token remembered is the one that was signed.
    token = read_fields(body, headers.get("content-type", ""), ("token",), _LIMITS)
    if not token.get("token"):
        raise PayloadInvalid("token", "missing")
    return token["token"]


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The one email in a forward() POST, urlencoded or multipart with attachments."""
    form = _read_form(body, headers)
    pairs = _message_headers(form.fields.get("message-headers"))
    threading = email_headers(
        _header(form, pairs, "Message-Id"),
        _header(form, pairs, "In-Reply-To"),
        _header(form, pairs, "References"),
    )
    if threading.message_id is None:
        raise PayloadInvalid("Message-Id", "missing from the form and message-headers")
    text, full_text = reply_and_full(_full_body(form), form.fields.get("stripped-text"))
    message = InboundMessage(
        provider="mailgun",
        provider_message_id=threading.message_id,
        channel=Channel.email,
        sender=_sender(form, pairs),
        text=text,
        full_text=full_text,
        subject=_header(form, pairs, "subject") or None,
        sent_at=_sent_at(form, pairs),
        attachments=_attachments(form),
        email=threading,
        recipient=form.fields.get("recipient") or None,
    )
    return sanitize.single(message)


def _read_form(body: bytes, headers: Mapping[str, str]) -> _Form:
    """Decode the POST body; Mailgun sends multipart only when there are attachments."""
    content_type = headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return _read_multipart(body, content_type)
    if media_type == "application/x-www-form-urlencoded":
        return _read_urlencoded(body)
    got = media_type or "no content-type"
    raise PayloadInvalid("content-type", f"expected a form, got {got}")


def _read_urlencoded(body: bytes) -> _Form:
    # A repeated name keeps its last value, as Django's QueryDict (and anymail) does.
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise PayloadInvalid("body", "form is not UTF-8") from None
    return _Form(fields=dict(pairs), files={})


def _read_multipart(body: bytes, content_type: str) -> _Form:
    # RFC 7578 form-data is MIME multipart, so the stdlib parser reads it once it
    # is given the boundary from the HTTP Content-Type header.
    envelope = read_message(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = subparts(envelope)
    if not envelope.is_multipart():
        raise PayloadInvalid("body", "no form-data parts for the Content-Type boundary")
    fields: dict[str, str] = {}
    files: dict[str, Attachment] = {}
    for part in parts:
        name = header_param(part, "name", "content-disposition")
        if name is None:
            continue  # RFC 7578 §4.2 requires a name; a nameless part carries nothing
        if header_param(part, "filename", "content-disposition") is None:
            fields[name] = part_text(part)
        else:
            files[name] = _file(part)
    return _Form(fields=fields, files=files)


def _file(part: Message) -> Attachment:
    content = part_bytes(part)  # an .eml upload arrives as message/rfc822
    return Attachment(
        filename=attachment_filename(part),
        content_type=part.get_content_type(),
        size=len(content),
        content=content,
    )


def _signed_fields(req: WebhookRequest) -> tuple[str, str, str]:
    # Only these three fields are read, with every other field and file skipped:
    # parsing the whole form first let an unsigned 368 KB filename hold the
    # event loop for 11 s. An unreadable body is answered as unauthenticated
    # (401), not as 422: nothing about a request is trusted before its signature
    # checks out.
    content_type = req.headers.get("content-type", "")
    try:
        fields = read_fields(req.body, content_type, _SIGNED_FIELDS, req.form_limits)
    except PayloadInvalid as exc:
        raise SignatureInvalid(f"cannot read the signed fields: {exc}") from None
    missing = [name for name in _SIGNED_FIELDS if not fields.get(name)]
    if missing:
        raise SignatureInvalid("form has no " + ", ".join(missing))
    return fields["timestamp"], fields["token"], fields["signature"]


def _check_fresh(timestamp: str, received_at: datetime) -> None:
    # A signed request replayed later still verifies; the window bounds how long
    # app/ must remember tokens (see replay_key).
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise SignatureInvalid("timestamp is not unix seconds")
    age = received_at.timestamp() - int(timestamp)
    if age > _MAX_SKEW_SECONDS:
        raise SignatureInvalid(f"timestamp is {age:.0f} s in the past {_LIMIT}")
    if -age > _MAX_SKEW_SECONDS:
        raise SignatureInvalid(f"timestamp is {-age:.0f} s in the future {_LIMIT}")


def _message_headers(raw: str | None) -> list[tuple[str, str]]:
    """`message-headers`: the MIME headers as a JSON list of [name, value] pairs."""
    if raw is None:
        return []
    try:
        return _HEADER_PAIRS.validate_json(raw)
    except ValidationError:
        raise PayloadInvalid(
            "message-headers", "not a JSON list of [name, value]"
        ) from None


def _header(form: _Form, pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    """A header from its own form field, else the first match in message-headers."""
    value = form.fields.get(name)
    if value:
        return value
    wanted = name.lower()
    return next((v for k, v in pairs if k.lower() == wanted), None)


def _full_body(form: _Form) -> str:
    # body-plain "is always present", Mailgun converting HTML-only mail itself;
    # converting body-html here covers a payload where it came empty.
    plain = form.fields.get("body-plain", "")
    html = form.fields.get("body-html", "")
    return plain if plain.strip() or not html else html_to_text(html)


def _sender(form: _Form, pairs: Sequence[tuple[str, str]]) -> IdentityClaim:
    # `from` is the From header; `sender` is the SMTP MAIL FROM (may be a bounce address).
    claim = email_claim(_header(form, pairs, "from"), "from")
    claim = claim or email_claim(form.fields.get("sender"), "sender")
    if claim is None:
        raise PayloadInvalid("from", "no email address in from or sender")
    return claim


def _sent_at(form: _Form, pairs: Sequence[tuple[str, str]]) -> datetime | None:
    """The sender's Date header, else Mailgun's POST timestamp."""
    sent = parse_date(_header(form, pairs, "Date"))
    if sent is not None:
        return sent
    timestamp = form.fields.get("timestamp", "")
    if not _UNIX_SECONDS.fullmatch(timestamp):
        return None
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


def _attachments(form: _Form) -> tuple[Attachment, ...]:
    if len(form.files) > MAX_ATTACHMENTS:
        raise PayloadInvalid("attachments", f"more than {MAX_ATTACHMENTS}")
    numbered = sorted(
        (
            (int(match[1]), attachment)
            for name, attachment in form.files.items()
            if (match := _ATTACHMENT_NAME.fullmatch(name))
        ),
        key=lambda item: item[0],
    )
    declared = form.fields.get("attachment-count", "0")
    if declared != str(len(numbered)):
        reason = f"is {declared!r} but the form has {len(numbered)} attachment-N files"
        raise PayloadInvalid("attachment-count", reason)
    return tuple(attachment for _, attachment in numbered)
