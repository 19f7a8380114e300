"""Telegram Bot API webhooks: one `Update` per POST, authenticated by a shared token.

https://core.telegram.org/bots/api#update and #setwebhook. Only `message` and
`edited_message` carry something a customer wrote; every other kind of update
(channel posts, callbacks, reactions, membership changes) is acknowledged and not stored.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, TypeVar

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
    SignatureInvalid,
    WebhookRequest,
)
from connectors.signing import as_bytes

__all__ = ["PROVIDER", "SECRET_HEADER", "parse", "verify"]

PROVIDER: Final = "telegram"
# setWebhook's `secret_token` comes back verbatim in this header on every delivery.
SECRET_HEADER: Final = "x-telegram-bot-api-secret-token"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_PHOTO_SIZES: Final = 100  # Telegram sends a handful; more is not Telegram
# Where sanitize's refusals point in the wire format, relative to the message.
_M = TypeVar("_M", bound=BaseModel)
_WIRE: Final = {
    "provider_message_id": "message_id",
    "sender.value": "from.id",
    "linked_identities[0].value": "contact.phone_number",
}


class _Wire(BaseModel):
    # Strict: an id of "1" or true is not what the Bot API sends. Unknown fields are
    # ignored, as the Bot API adds fields in every release.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _User(_Wire):
    # "at most 52 significant bits": a Python int holds it; we keep it as text.
    id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class _Chat(_Wire):
    id: int


class _File(_Wire):
    """PhotoSize, Document, Voice and Video share these; photos have no name or type."""

    file_id: Annotated[str, Field(min_length=1)]
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None
    width: int = 0
    height: int = 0


class _Location(_Wire):
    latitude: float
    longitude: float


class _Contact(_Wire):
    phone_number: Annotated[str, Field(min_length=1)]
    first_name: str = ""
    last_name: str | None = None
    user_id: int | None = None


class _Message(_Wire):
    message_id: int
    from_: _User | None = Field(default=None, alias="from")
    chat: _Chat
    date: int
    edit_date: int | None = None
    text: str | None = None
    caption: str | None = None
    photo: list[_File] = Field(default_factory=list, max_length=_MAX_PHOTO_SIZES)
    document: _File | None = None
    voice: _File | None = None
    video: _File | None = None
    location: _Location | None = None
    contact: _Contact | None = None


class _Update(_Wire):
    update_id: int
    message: object = None  # validated once we know which of the two it is
    edited_message: object = None


def verify(req: WebhookRequest, secret: str) -> None:
    """Raise unless X-Telegram-Bot-Api-Secret-Token is our setWebhook secret_token."""
    given = req.headers.get(SECRET_HEADER)
    if not given:
        raise SignatureInvalid(f"{SECRET_HEADER} header is missing")
    # Bytes on both sides: a header may hold any latin-1 text or lone surrogates.
    if not hmac.compare_digest(as_bytes(given), as_bytes(secret)):
        raise SignatureInvalid(f"{SECRET_HEADER} does not match our secret token")


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The one message of an Update; no message for updates that carry none.

    `update_id` is required (an Update without it is not from Telegram) but not used
    as a key: redelivery is made idempotent by the message key `<chat.id>:<message_id>`.
    """
    update = _validate(_Update, json_body.load(body), "")
    if update.message is not None:
        return _parsed(update.message, "message", edit=False)
    if update.edited_message is not None:
        return _parsed(update.edited_message, "edited_message", edit=True)
    return Parsed()


def _parsed(raw: object, path: str, *, edit: bool) -> Parsed:
    message = _validate(_Message, raw, path)
    if message.from_ is None:
        # Only channel posts lack a sender, and they come as channel_post.
        raise PayloadInvalid(f"{path}.from", "Field required")
    edited_at = _edited_at(message, path) if edit else None
    try:
        return sanitize.single(_inbound(message, message.from_, edited_at))
    except PayloadInvalid as exc:
        field = f"{path}.{_WIRE.get(exc.field, exc.field)}"
        raise PayloadInvalid(field, exc.reason) from None


def _validate(model: type[_M], document: object, path: str) -> _M:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in error["loc"]
        )
        field = (path + loc).removeprefix(".") or "body"
        raise PayloadInvalid(field, error["msg"]) from exc


def _edited_at(message: _Message, path: str) -> datetime:
    """When the edit was made: the app keeps the newest version by this time."""
    edited_at = sanitize.sent_at(_from_unix(message.edit_date))
    if edited_at is None:
        raise PayloadInvalid(f"{path}.edit_date", "missing or not a usable time")
    return edited_at


def _inbound(
    message: _Message, sender: _User, edited_at: datetime | None
) -> InboundMessage:
    kind, attachments = _media(message)
    return InboundMessage(
        provider=PROVIDER,
        # message_id is unique only within its chat.
        provider_message_id=f"{message.chat.id}:{message.message_id}",
        channel=Channel.telegram,
        sender=IdentityClaim(
            kind=IdentityKind.telegram, value=str(sender.id), name=_name(sender)
        ),
        text=_text(message),
        sent_at=_from_unix(message.date),
        attachments=attachments,
        linked_identities=_contact_claims(message.contact, sender),
        locale=sender.language_code,
        content_type=kind,
        edited_at=edited_at,
    )


def _media(message: _Message) -> tuple[str, tuple[Attachment, ...]]:
    """The message's kind and its provider-hosted files (fetched with getFile)."""
    if message.photo:
        # The same picture in several sizes: keep the largest.
        largest = max(
            message.photo, key=lambda p: (p.width * p.height, p.file_size or 0)
        )
        return "photo", (_attachment(largest),)
    for kind, file in (
        ("document", message.document),
        ("voice", message.voice),
        ("video", message.video),
    ):
        if file is not None:
            return kind, (_attachment(file),)
    if message.location is not None:
        return "location", ()
    if message.contact is not None:
        return "contact", ()
    return "text", ()


def _attachment(file: _File) -> Attachment:
    return Attachment(
        provider_media_id=file.file_id,
        content_type=file.mime_type,
        filename=file.file_name,
        size=file.file_size,
    )


def _text(message: _Message) -> str:
    if message.text is not None:
        return message.text
    if message.location is not None:  # RFC 5870 geo URI
        return f"geo:{message.location.latitude},{message.location.longitude}"
    if message.contact is not None:
        contact = message.contact
        parts = (contact.first_name, contact.last_name, contact.phone_number)
        return " ".join(part for part in parts if part)
    return message.caption or ""


def _name(user: _User) -> str | None:
    full = " ".join(part for part in (user.first_name, user.last_name) if part)
    return full or user.username or None


def _contact_claims(
    contact: _Contact | None, sender: _User
) -> tuple[IdentityClaim, ...]:
    """A shared contact's phone: the sender's own (verified) or a claim about someone."""
    if contact is None:
        return ()
    phone = contact.phone_number.strip()
    # Telegram vouches for the number only when the contact is the sender's own
    # account; it then writes it in international form, with or without the "+".
    is_own = contact.user_id is not None and contact.user_id == sender.id
    if is_own and phone.isascii() and phone.isdigit():
        phone = "+" + phone
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return (
        IdentityClaim(
            kind=IdentityKind.phone, value=phone, name=name or None, verified=is_own
        ),
    )


def _from_unix(value: int | None) -> datetime | None:
    if value is None:
        return None
    try:
        return _EPOCH + timedelta(seconds=value)
    except OverflowError:
        return None
