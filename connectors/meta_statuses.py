"""Delivery statuses in Meta webhooks: WhatsApp `statuses[]`, Messenger and Instagram
`delivery` and `read` receipts. `connectors.meta` adds them to what it parses.

A status item we cannot read (no id, no watermark, a status value we do not know)
is dropped: it names no message we could update. Refusing it would make Meta
redeliver the whole batch, messages included, for nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from connectors import delivery_status
from connectors.model import DeliveryStatus, PayloadInvalid, StatusUpdate

__all__ = ["MAX_STATUSES", "statuses"]

# Meta batches at most 1000 updates in one notification, statuses as messages.
MAX_STATUSES: Final = 1000
_WHATSAPP: Final = "whatsapp_business_account"
# Outbound provider names (messages.provider of our replies) per webhook object.
_MESSAGING: Final = {"page": "messenger", "instagram": "instagram"}
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status
# `played`: a voice message was played, which implies it was read.
_WA_STATUSES: Final = {
    "sent": DeliveryStatus.sent,
    "delivered": DeliveryStatus.delivered,
    "read": DeliveryStatus.read,
    "played": DeliveryStatus.read,
    "failed": DeliveryStatus.failed,
}
_M = TypeVar("_M", bound=BaseModel)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _WaErrorData(_Shape):
    details: str | None = None


class _WaError(_Shape):
    code: int | str | None = None  # 131050, 130429, ...
    title: str | None = None
    message: str | None = None  # the same as title, per the reference
    error_data: _WaErrorData | None = None


class _WaStatus(_Shape):
    id: str  # the wamid our send was answered with
    status: str
    timestamp: object = None  # unix seconds as a string
    errors: list[_WaError] = []


class _WaValue(_Shape):
    statuses: object = None  # a list, each item validated alone


class _WaChange(_Shape):
    field: str
    value: _WaValue


class _WaEntry(_Shape):
    changes: list[_WaChange] = []


class _WaPayload(_Shape):
    entry: list[_WaEntry]


class _Party(_Shape):
    id: str | None = None


class _Delivery(_Shape):
    # https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/message-deliveries
    mids: list[str] = []  # "may not be present"
    watermark: object = None  # unix ms: every message sent before it was delivered


class _Read(_Shape):
    # Messenger: `watermark` (message_reads); Instagram's messaging_seen: `mid`.
    watermark: object = None
    mid: str | None = None


class _MessagingEvent(_Shape):
    sender: _Party | None = None  # the customer (PSID / IGSID) for receipts
    timestamp: object = None  # unix ms
    delivery: _Delivery | None = None
    read: _Read | None = None


class _MessagingEntry(_Shape):
    messaging: list[object] = []  # each validated alone


class _MessagingPayload(_Shape):
    entry: list[_MessagingEntry]


def statuses(document: Mapping[str, object]) -> tuple[StatusUpdate, ...]:
    """Every readable status of a Meta notification, in document order."""
    kind = document.get("object")
    if kind == _WHATSAPP:
        found = _whatsapp(document)
    elif isinstance(kind, str) and kind in _MESSAGING:
        found = _messaging(document, _MESSAGING[kind])
    else:
        return ()
    updates: list[StatusUpdate] = []
    for update in found:
        if len(updates) == MAX_STATUSES:
            raise PayloadInvalid("body", f"more than {MAX_STATUSES} statuses")
        try:
            updates.append(delivery_status.clean(update))
        except PayloadInvalid:
            continue
    return tuple(updates)


def _whatsapp(document: Mapping[str, object]) -> Iterator[StatusUpdate]:
    payload = _valid(_WaPayload, document)
    changes = [c for e in payload.entry for c in e.changes] if payload else []
    for change in changes:
        items = change.value.statuses
        if change.field != "messages" or not isinstance(items, list):
            continue
        for raw in items:
            status = _valid(_WaStatus, raw)
            if status is not None and status.status in _WA_STATUSES:
                yield _wa_update(status)


def _wa_update(status: _WaStatus) -> StatusUpdate:
    error = status.errors[0] if status.errors else None
    details = error.error_data.details if error and error.error_data else None
    text = (error.message or error.title) if error else None
    if details and details != text:
        text = f"{text}: {details}" if text else details
    return StatusUpdate(
        provider="whatsapp",
        provider_message_id=status.id,
        status=_WA_STATUSES[status.status],
        at=delivery_status.from_unix(status.timestamp),
        error_code=None if error is None or error.code is None else str(error.code),
        error=text,
    )


def _messaging(document: Mapping[str, object], provider: str) -> Iterator[StatusUpdate]:
    payload = _valid(_MessagingPayload, document)
    for entry in payload.entry if payload else ():
        for raw in entry.messaging:
            event = _valid(_MessagingEvent, raw)
            if event is not None and event.sender is not None and event.sender.id:
                yield from _receipts(event, event.sender.id, provider)


def _receipts(
    event: _MessagingEvent, customer: str, provider: str
) -> Iterator[StatusUpdate]:
    at = delivery_status.from_unix(event.timestamp, per_second=1000)
    for status, receipt in (
        (DeliveryStatus.delivered, event.delivery),
        (DeliveryStatus.read, event.read),
    ):
        if receipt is None:
            continue
        mids = receipt.mids if isinstance(receipt, _Delivery) else [receipt.mid]
        for mid in mids:
            if mid:
                yield StatusUpdate(
                    provider=provider, provider_message_id=mid, status=status, at=at
                )
        watermark = delivery_status.from_unix(receipt.watermark, per_second=1000)
        if watermark is not None:
            yield StatusUpdate(
                provider=provider,
                status=status,
                at=at,
                recipient=customer,
                watermark=watermark,
            )


def _valid(model: type[_M], raw: object) -> _M | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None
