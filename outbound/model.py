"""What a send needs and what it came to: plain frozen values, JSON-able for storage."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Status(StrEnum):
    """An outbound message's delivery status (the contract's wire values)."""

    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    read = "read"
    failed = "failed"
    unknown = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    name: str
    language: str
    variables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaLink:
    url: str
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """Everything a provider request is built from; stored with the dispatch row."""

    message_id: str  # ours; also the idempotency reference we can give a provider
    provider: str  # twilio | whatsapp | messenger | instagram | mailgun | smtp | telegram | chat
    channel: str
    to: str  # the customer's address on that channel
    sender: str | None = None  # ours: the number, page or address they wrote to
    text: str = ""
    template: Template | None = None
    attachments: tuple[MediaLink, ...] = ()
    reply_to: str | None = (
        None  # provider id of the message answered (wamid, Message-ID)
    )
    references: tuple[str, ...] = ()  # email thread
    subject: str | None = None
    messaging_type: str | None = None  # Messenger/Instagram: RESPONSE or MESSAGE_TAG
    tag: str | None = None  # HUMAN_AGENT with MESSAGE_TAG


class Verdict(StrEnum):
    sent = "sent"  # the provider accepted it: final
    retry = "retry"  # certainly not delivered (refused, 429, 503): may be sent again
    failed = "failed"  # refused for good (4xx): final
    unknown = "unknown"  # the request was written, no clear answer: never re-sent


@dataclass(frozen=True, slots=True, kw_only=True)
class SendOutcome:
    verdict: Verdict
    provider_message_ids: tuple[str, ...] = ()  # several when a text was split
    error_code: str | None = None
    error_message: str | None = None
    retry_after_seconds: float | None = None

    @property
    def provider_message_id(self) -> str | None:
        return self.provider_message_ids[0] if self.provider_message_ids else None


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCall:
    """One HTTP request a sender makes (the app's httpx client executes it)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] | None = None  # application/x-www-form-urlencoded
    json: object | None = None
    auth: tuple[str, str] | None = None  # basic auth
    files: tuple[tuple[str, tuple[str, bytes, str]], ...] = field(default=())
    content: bytes | None = None  # raw body sent byte for byte (a signed body)


class SendRefused(Exception):
    """`build` refuses a delivery it cannot turn into a request (the app answers 422).

    Raised at accept time, before anything is sent, so nothing is lost: an unmapped
    template, a missing sender, an attachment the channel cannot carry.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def combine(outcomes: Sequence[SendOutcome]) -> SendOutcome:
    """One outcome for the calls of one delivery, interpreted in order.

    All sent: sent, with every provider id in order. Otherwise the first call that
    was not sent decides the verdict, error and retry delay, and the ids of the
    calls before it are kept (those parts reached the provider: a retry should
    resume after them, not start over).
    """
    if not outcomes:
        raise ValueError("combine needs the outcome of at least one call")
    sent_ids: list[str] = []
    for outcome in outcomes:
        if outcome.verdict is not Verdict.sent:
            return replace(
                outcome,
                provider_message_ids=(*sent_ids, *outcome.provider_message_ids),
            )
        sent_ids.extend(outcome.provider_message_ids)
    return SendOutcome(verdict=Verdict.sent, provider_message_ids=tuple(sent_ids))


def delivery_to_json(delivery: Delivery) -> str:
    """The dispatch row's stored form."""
    return json.dumps(dataclasses.asdict(delivery))


def delivery_from_json(document: str) -> Delivery:
    values = json.loads(document)
    template = values.pop("template")
    values["template"] = (
        Template(**{**template, "variables": tuple(template["variables"])})
        if template
        else None
    )
    values["attachments"] = tuple(MediaLink(**a) for a in values["attachments"])
    values["references"] = tuple(values["references"])
    return Delivery(**values)
