"""Meta inbound webhooks: WhatsApp Cloud API, Messenger and Instagram Messaging.

One app secret signs all three, so they share one connector; `object` in the body
says which product sent it and `channel` carries that on each message.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Final, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from connectors import json_body, meta_statuses, sanitize
from connectors import meta_schema as schema
from connectors.model import (
    Attachment,
    Channel,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    Parsed,
    PayloadInvalid,
    Rejected,
    WebhookRequest,
)
from connectors.signing import as_bytes, verify_body_signature

__all__ = ["MAX_MESSAGES", "parse", "verify", "verify_handshake"]

PROVIDER: Final = "meta"
# "Event Notifications are aggregated and sent in a batch with a maximum of 1000
# updates" (Graph API webhooks docs): a body with more is not from Meta.
MAX_MESSAGES: Final = 1000
_WHATSAPP: Final = "whatsapp_business_account"
# Messenger and Instagram deliver the same `messaging` events under different objects:
# https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks
_MESSAGING: Final = {
    "page": (Channel.messenger, IdentityKind.messenger),
    "instagram": (Channel.instagram, IdentityKind.instagram),
}
_MEDIA_TYPES: Final = ("image", "audio", "video", "document", "sticker")
_CONTENT_FIELDS: Final = (
    "text",
    *_MEDIA_TYPES,
    "location",
    "interactive",
    "button",
    "reaction",
)
# Where sanitize's refusals point in the wire format, relative to the message.
_WA_WIRE: Final = {"provider_message_id": "id", "sender.value": "from"}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_M = TypeVar("_M", bound=BaseModel)
# One message item of the body: builds its message, None when it carries no chat.
_Build = Callable[[], InboundMessage | None]


class _Content(NamedTuple):
    mid: str | None
    text: str
    content_type: str
    attachments: tuple[Attachment, ...] = ()


def verify(req: WebhookRequest, secret: str) -> None:
    """Raise unless X-Hub-Signature-256 is `sha256=` + HMAC-SHA256 of the raw body."""
    # https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads
    verify_body_signature(req, secret, "x-hub-signature-256")


def verify_handshake(params: Mapping[str, str], verify_token: str) -> str | None:
    """The `hub.challenge` to echo when Meta's GET subscription check has our token."""
    # https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
    given = params.get("hub.verify_token")
    if params.get("hub.mode") != "subscribe" or given is None or not verify_token:
        return None
    if not hmac.compare_digest(as_bytes(given), as_bytes(verify_token)):
        return None
    return params.get("hub.challenge")


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """Every customer message in the POST, in order, and the delivery statuses of
    ours (`connectors.meta_statuses`); echoes yield nothing.

    A malformed message is returned in `rejected` and the others still are; a body
    that is not a Meta notification at all raises PayloadInvalid.
    """
    document = _load(body)
    parsed = _collect(_items(document))
    return replace(parsed, statuses=meta_statuses.statuses(document))


def _items(document: Mapping[str, object]) -> Iterator[_Build]:
    kind = document.get("object")
    if kind is None:
        raise PayloadInvalid("object", "Field required")
    if kind == _WHATSAPP:
        return _whatsapp(_validate(schema.WaPayload, document))
    if isinstance(kind, str) and kind in _MESSAGING:
        channel, id_kind = _MESSAGING[kind]
        payload = _validate(schema.MessagingPayload, document)
        return _messaging(payload, channel, id_kind)
    raise PayloadInvalid("object", f"unsupported value {kind!r}")


def _collect(items: Iterable[_Build]) -> Parsed:
    messages: list[InboundMessage] = []
    rejected: list[Rejected] = []
    for index, build in enumerate(items):
        if index == MAX_MESSAGES:
            raise PayloadInvalid("body", f"more than {MAX_MESSAGES} messages")
        try:
            message = build()
        except PayloadInvalid as exc:
            rejected.append(Rejected(index=index, field=exc.field, reason=exc.reason))
            continue
        if message is not None:
            messages.append(message)
    return Parsed(messages=tuple(messages), rejected=tuple(rejected))


def _load(body: bytes) -> Mapping[str, object]:
    document = json_body.load(body)
    if not isinstance(document, dict):
        raise PayloadInvalid("body", "expected a JSON object")
    return document


def _validate(model: type[_M], document: object, path: str = "") -> _M:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PayloadInvalid(_path(path, error["loc"]), error["msg"]) from exc


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    """`("entry", 0, "changes")` -> `entry[0].changes`, the way the docs name fields."""
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return (prefix + path).removeprefix(".") or "body"


def _sanitized(
    message: InboundMessage, path: str, wire: Mapping[str, str]
) -> InboundMessage:
    try:
        return sanitize.message(message)
    except PayloadInvalid as exc:
        field = f"{path}.{wire.get(exc.field, exc.field)}"
        raise PayloadInvalid(field, exc.reason) from None


def _from_unix(value: object, *, per_second: int) -> datetime | None:
    """Aware UTC time from a unix count (int or digit string); None if unusable."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return _EPOCH + timedelta(milliseconds=int(value) * 1000 // per_second)
    except (ValueError, OverflowError):
        return None


# WhatsApp Cloud API: one `messages` change per phone number, with the senders'
# profiles in `contacts` beside the `messages` they sent.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages


def _whatsapp(payload: schema.WaPayload) -> Iterator[_Build]:
    for e, entry in enumerate(payload.entry):
        for c, change in enumerate(entry.changes):
            # Other fields (account_update, template status, ...) carry no chat.
            if change.field == "messages":
                yield from _wa_change(change.value, f"entry[{e}].changes[{c}].value")


def _wa_change(value: schema.WaValue, path: str) -> Iterator[_Build]:
    names = _wa_names(value.contacts)
    metadata = value.metadata or schema.WaMetadata()
    recipient = metadata.display_phone_number or metadata.phone_number_id
    # A change with only `statuses` (sent/delivered/read receipts) has no `messages`;
    # connectors.meta_statuses reads those.
    for i, raw in enumerate(value.messages):
        yield partial(_wa_message, raw, f"{path}.messages[{i}]", names, recipient)


def _wa_names(contacts: list[object]) -> dict[str, str | None]:
    """wa_id -> profile name; a malformed contact only loses its name hint."""
    names: dict[str, str | None] = {}
    for raw in contacts:
        try:
            contact = schema.WaContact.model_validate(raw)
        except ValidationError:
            continue
        if contact.wa_id and contact.profile:
            names[contact.wa_id] = contact.profile.name
    return names


def _wa_message(
    raw: object, path: str, names: Mapping[str, str | None], recipient: str | None
) -> InboundMessage:
    message = _validate(schema.WaMessage, raw, path)
    kind = message.type or _guess_type(message)
    text, attachments = _wa_content(message, kind)
    inbound = InboundMessage(
        provider=PROVIDER,
        provider_message_id=message.id,
        channel=Channel.whatsapp,
        # `from` is the wa_id: the phone number in international form without "+".
        sender=IdentityClaim(
            kind=IdentityKind.phone,
            value="+" + message.from_,
            name=names.get(message.from_),
        ),
        text=text,
        sent_at=_from_unix(message.timestamp, per_second=1),
        attachments=attachments,
        recipient=recipient,
        content_type=kind,
    )
    return _sanitized(inbound, path, _WA_WIRE)


def _guess_type(message: schema.WaMessage) -> str:
    """Some documented samples (location) omit `type`; name it after its content."""
    present = message.model_fields_set
    return next((name for name in _CONTENT_FIELDS if name in present), "unknown")


def _wa_content(
    message: schema.WaMessage, kind: str
) -> tuple[str, tuple[Attachment, ...]]:
    media = {
        "image": message.image,
        "audio": message.audio,
        "video": message.video,
        "document": message.document,
        "sticker": message.sticker,
    }.get(kind)
    if media is None:
        return _wa_text(message, kind), ()
    # Only the media id arrives; app/ downloads it through the Graph API media endpoint.
    attachment = Attachment(
        provider_media_id=media.id,
        content_type=media.mime_type,
        filename=media.filename,
    )
    return media.caption or "", (attachment,)


def _wa_text(message: schema.WaMessage, kind: str) -> str:
    """Readable text of a non-media message; "" for types we record but cannot show."""
    if kind == "text" and message.text:
        return message.text.body
    if kind == "location" and message.location:
        return _location_text(message.location)
    if kind == "interactive" and message.interactive:
        reply = message.interactive.button_reply or message.interactive.list_reply
        return (reply.title or "") if reply else ""
    if kind == "button" and message.button:
        return message.button.text or ""
    if kind == "reaction" and message.reaction:
        return message.reaction.emoji or ""  # no emoji: the user removed a reaction
    return ""


def _location_text(location: schema.WaLocation) -> str:
    label = ", ".join(part for part in (location.name, location.address) if part)
    if location.latitude is None or location.longitude is None:
        return label
    return f"{label} ({location.latitude}, {location.longitude})".strip()


# Messenger and Instagram: `entry[].messaging[]` events, one per message or action.
# https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/messages


def _messaging(
    payload: schema.MessagingPayload, channel: Channel, id_kind: IdentityKind
) -> Iterator[_Build]:
    for e, entry in enumerate(payload.entry):
        for i, raw in enumerate(entry.messaging):
            path = f"entry[{e}].messaging[{i}]"
            yield partial(_messaging_event, raw, path, channel, id_kind)


def _messaging_event(
    raw: object, path: str, channel: Channel, id_kind: IdentityKind
) -> InboundMessage | None:
    event = _validate(schema.MessagingEvent, raw, path)
    if event.message is not None:
        content = _message_content(event.message)
        wire = {"provider_message_id": "message.mid"}
    else:
        content = _postback_content(event.postback)
        wire = {"provider_message_id": "postback.mid"}
    if content is None:
        # delivery, read (connectors.meta_statuses), reaction, optin, echo: nothing
        # the customer wrote
        return None
    sender = _sender_id(event, path)
    message = InboundMessage(
        provider=PROVIDER,
        # Postbacks carry `mid` only from Graph API v11; older ones get a stable key.
        provider_message_id=content.mid or f"postback:{sender}:{event.timestamp}",
        channel=channel,
        sender=IdentityClaim(kind=id_kind, value=sender),
        text=content.text,
        sent_at=_from_unix(event.timestamp, per_second=1000),
        attachments=content.attachments,
        recipient=event.recipient.id if event.recipient else None,
        content_type=content.content_type,
    )
    return _sanitized(message, path, wire | {"sender.value": "sender.id"})


def _message_content(message: schema.MessagingMessage) -> _Content | None:
    # Echoes are our page's own outbound messages; is_deleted is an unsend notice.
    # https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/message-echoes
    if message.is_echo or message.is_deleted:
        return None
    attachments = tuple(
        Attachment(url=item.payload.url if item.payload else None)
        for item in message.attachments
    )
    return _Content(
        message.mid, message.text or "", _message_kind(message), attachments
    )


def _message_kind(message: schema.MessagingMessage) -> str:
    if message.is_unsupported:
        return "unsupported"
    if message.attachments:
        return message.attachments[0].type  # image, video, audio, file, fallback, ...
    return "quick_reply" if message.quick_reply is not None else "text"


def _postback_content(postback: schema.Postback | None) -> _Content | None:
    # https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/messaging_postbacks
    if postback is None:
        return None
    return _Content(postback.mid, postback.title or "", "postback")


def _sender_id(event: schema.MessagingEvent, path: str) -> str:
    if event.sender is None or not event.sender.id:
        raise PayloadInvalid(f"{path}.sender.id", "Field required")
    return event.sender.id
