"""Normalized inbound message: what every connector's `parse` returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    whatsapp = "whatsapp"
    messenger = "messenger"
    instagram = "instagram"
    chat = "chat"
    telegram = "telegram"


class IdentityKind(StrEnum):
    email = "email"
    phone = "phone"
    phone_raw = "phone_raw"  # invalid numbers and short codes, kept verbatim
    messenger = "messenger"  # page-scoped id (PSID)
    instagram = "instagram"  # Instagram-scoped id (IGSID)
    chat = "chat"  # website chat visitor id
    telegram = "telegram"  # Telegram user id (`from.id`), as text


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityClaim:
    """Who a message says it is from. Phones may be raw here; app/ canonicalizes."""

    kind: IdentityKind
    value: str
    name: str | None = None  # display-name hint, never used for matching
    verified: bool = True  # False: a claim typed by a visitor, never used to stitch


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """Either bytes we received (`content`) or a reference to provider-hosted media."""

    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    url: str | None = None
    provider_media_id: str | None = None
    content: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailHeaders:
    message_id: str | None = None  # without angle brackets
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    provider: str
    provider_message_id: str  # dedup key, unique per provider
    channel: Channel
    sender: IdentityClaim
    text: str  # the new part (email: without quoted history)
    full_text: str | None = None  # everything, when it differs from `text`
    subject: str | None = None
    sent_at: datetime | None = None  # provider clock; None when absent or unparsable
    attachments: tuple[Attachment, ...] = ()
    email: EmailHeaders | None = None
    linked_identities: tuple[
        IdentityClaim, ...
    ] = ()  # e.g. a chat visitor's email/phone
    locale: str | None = None
    recipient: str | None = None  # our address / number / page the message was sent to
    content_type: str = "text"  # text, image, location, reaction, button, ...
    # Set: a new version of the message already stored under `provider_message_id`,
    # edited at this (aware) time; app/ keeps the newest text and the older ones.
    edited_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """One message of a batch that could not be accepted; the others still are."""

    index: int  # position among the body's message items, in document order
    field: str  # where in the body, e.g. `entry[0].changes[0].value.messages[1].id`
    reason: str


class DeliveryStatus(StrEnum):
    """What a provider says became of a message we sent (the outbound wire values)."""

    sent = "sent"  # the provider has it (queued, sending, handed to the carrier)
    delivered = "delivered"
    read = "read"
    failed = "failed"  # final: it will not be delivered


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """A provider's word on one outbound message, or (a watermark) on several.

    It names its message by the provider's id, by our own id echoed back
    (`message_id`), or by `recipient` and `watermark`: every message sent to that
    recipient up to then (Messenger and Instagram receipts).
    """

    provider: str  # the outbound provider: twilio, whatsapp, messenger, mailgun, ...
    status: DeliveryStatus
    provider_message_id: str | None = None
    message_id: str | None = None  # ours, as the provider echoes it (Mailgun v:)
    at: datetime | None = None  # provider clock, UTC; None: app uses receipt time
    error_code: str | None = None
    error: str | None = None
    recipient: str | None = None  # with `watermark`: the customer's id (PSID)
    watermark: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """What `parse` returns: the messages to store and those refused one by one, and
    the delivery statuses of messages we sent.

    A body that cannot be read at all (not JSON, wrong top-level shape) still raises
    PayloadInvalid; `rejected` is for one bad message among good ones.
    """

    messages: tuple[InboundMessage, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FormLimits:
    """How much of a form `verify` reads before the signature is checked.

    Beyond either bound the request is refused as unauthenticated (401): no
    provider sends such a form, and checking it would cost more than it is worth.
    """

    # Twilio sends about 40 fields (20 more with 10 media), Mailgun about 25 plus
    # one per attachment (100 at most, see email_text.MAX_ATTACHMENTS).
    max_fields: int = 200
    # For a form whose signature covers every field (Twilio), parsed to check it:
    # parse_qsl unquotes in Python: 64 KiB of %XX escapes take about 4 ms.
    # Twilio's Body is at most 1,600 characters, 19 KiB percent-encoded as emoji.
    max_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRequest:
    """What a connector's `verify` sees: raw bytes and the URL the provider signed."""

    body: bytes
    headers: Mapping[str, str]  # lower-case names
    url: str  # public URL as the provider called it, query string included
    received_at: datetime = field(compare=False)
    form_limits: FormLimits = field(default=FormLimits(), compare=False)


class PayloadInvalid(ValueError):
    """The payload is malformed or incomplete; app/ answers 422."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SignatureInvalid(Exception):
    """The request is not authentic; app/ answers 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
