"""Private pydantic shapes of Meta webhook bodies; only `connectors.meta` uses them.

Unknown fields are ignored so new Meta additions never break parsing; only what
`connectors.meta` reads is declared, and only what it cannot do without is required.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

# More than a Messenger message carries in practice; bounds the work per message.
MAX_ATTACHMENTS: Final = 100


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# WhatsApp Cloud API, `messages` field:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages


class WaProfile(_Shape):
    name: str | None = None


class WaContact(_Shape):
    wa_id: str | None = None
    profile: WaProfile | None = None


class WaMetadata(_Shape):
    display_phone_number: str | None = None
    phone_number_id: str | None = None


class WaText(_Shape):
    body: str


class WaMedia(_Shape):
    """image, audio, video, document and sticker all share this shape."""

    id: str
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None  # documents only


class WaLocation(_Shape):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None


class WaReply(_Shape):
    id: str | None = None
    title: str | None = None


class WaInteractive(_Shape):
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None


class WaButton(_Shape):
    text: str | None = None


class WaReaction(_Shape):
    emoji: str | None = None  # absent when the user removes a reaction
    message_id: str | None = None


class WaMessage(_Shape):
    from_: str = Field(alias="from")
    id: str
    timestamp: object = None  # unix seconds as a string; parsed leniently
    type: str | None = None
    text: WaText | None = None
    image: WaMedia | None = None
    audio: WaMedia | None = None
    video: WaMedia | None = None
    document: WaMedia | None = None
    sticker: WaMedia | None = None
    location: WaLocation | None = None
    interactive: WaInteractive | None = None
    button: WaButton | None = None
    reaction: WaReaction | None = None


class WaValue(_Shape):
    metadata: WaMetadata | None = None
    # Items are validated one by one (WaContact, WaMessage), so that one malformed
    # message is refused alone instead of failing the whole batch.
    contacts: list[object] = []
    messages: list[object] = []


class WaChange(_Shape):
    field: str
    value: WaValue


class WaEntry(_Shape):
    changes: list[WaChange] = []


class WaPayload(_Shape):
    entry: list[WaEntry]


# Messenger and Instagram Messaging share the `messaging` event shape:
# https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events


class Party(_Shape):
    id: str | None = None  # optin events carry `user_ref` instead


class AttachmentPayload(_Shape):
    url: str | None = None


class MessagingAttachment(_Shape):
    type: str
    payload: AttachmentPayload | None = None  # `fallback` may come without one


class MessagingMessage(_Shape):
    mid: str
    text: str | None = None
    attachments: list[MessagingAttachment] = Field(
        default=[], max_length=MAX_ATTACHMENTS
    )
    quick_reply: dict[str, object] | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False  # Instagram: media type the API cannot deliver


class Postback(_Shape):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None


class MessagingEvent(_Shape):
    sender: Party | None = None
    recipient: Party | None = None
    timestamp: object = None  # unix milliseconds; parsed leniently
    message: MessagingMessage | None = None
    postback: Postback | None = None


class MessagingEntry(_Shape):
    messaging: list[object] = []  # each validated alone as a MessagingEvent


class MessagingPayload(_Shape):
    entry: list[MessagingEntry]
