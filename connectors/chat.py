"""Our website chat widget's webhook: one JSON message, signed `sha256=<hex>`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors import json_body, sanitize
from connectors.model import (
    Attachment,
    Channel,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    Parsed,
    PayloadInvalid,
    WebhookRequest,
)
from connectors.signing import verify_body_signature

__all__ = ["PROVIDER", "SIGNATURE_HEADER", "parse", "verify"]

PROVIDER: Final = "chat"
SIGNATURE_HEADER: Final = "x-omniroute-signature"

_NonEmpty = Annotated[str, Field(min_length=1)]
_MAX_ATTACHMENTS: Final = 100


class _Wire(BaseModel):
    # Strict: the widget is ours, so "1" for a number or "yes" for a bool is a bug
    # to surface, not to coerce. Unknown fields are ignored for forward compatibility.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _Attachment(_Wire):
    url: _NonEmpty
    filename: str | None = None
    content_type: str | None = None
    size: Annotated[int, Field(ge=0)] | None = None


class _Visitor(_Wire):
    id: _NonEmpty
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    verified: bool


class _Payload(_Wire):
    message_id: _NonEmpty
    visitor: _Visitor
    text: str
    sent_at: object = None  # parsed leniently by _sent_at: a bad clock is not a 422
    locale: str | None = None
    attachments: Annotated[
        tuple[_Attachment, ...], Field(max_length=_MAX_ATTACHMENTS)
    ] = ()


def verify(req: WebhookRequest, secret: str) -> None:
    """Raise unless X-Omniroute-Signature is the HMAC-SHA256 of the raw body."""
    verify_body_signature(req, secret, SIGNATURE_HEADER)


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The one message of a chat widget webhook."""
    payload = _validated(body)
    attachments = tuple(_attachment(item) for item in payload.attachments)
    message = InboundMessage(
        provider=PROVIDER,
        provider_message_id=payload.message_id,
        channel=Channel.chat,
        sender=IdentityClaim(
            kind=IdentityKind.chat, value=payload.visitor.id, name=payload.visitor.name
        ),
        text=payload.text,
        sent_at=_sent_at(payload.sent_at),
        attachments=attachments,
        linked_identities=_linked(payload.visitor),
        locale=payload.locale,
        content_type="media" if attachments else "text",
    )
    return sanitize.single(message)


def _validated(body: bytes) -> _Payload:
    # Read and cleaned once (depth bound, NUL, lone surrogates), then validated in
    # JSON mode, where strict still accepts arrays for tuples; a non-object is loc ().
    document = json.dumps(json_body.load(body))
    try:
        return _Payload.model_validate_json(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        raise PayloadInvalid(field, error["msg"]) from exc


def _linked(visitor: _Visitor) -> tuple[IdentityClaim, ...]:
    # Typed into the widget by the visitor: only stitched when the widget says it
    # verified them. Phones stay raw; the app canonicalizes.
    claims = ((IdentityKind.email, visitor.email), (IdentityKind.phone, visitor.phone))
    return tuple(
        IdentityClaim(kind=kind, value=value, verified=visitor.verified)
        for kind, value in claims
        if value
    )


def _sent_at(value: object) -> datetime | None:
    """An aware datetime from RFC 3339 text; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        # RFC 3339 section 5.6: "T" and "Z" may be lower case.
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _attachment(item: _Attachment) -> Attachment:
    return Attachment(
        url=item.url,
        filename=item.filename,
        content_type=item.content_type,
        size=item.size,
    )
