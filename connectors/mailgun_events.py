"""Mailgun event webhooks: `delivered` and `failed` for the email replies we sent.

One JSON event per POST: `{"signature": {"timestamp", "token", "signature"},
"event-data": {...}}`.
Payloads: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads
Events: https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-types
Signature: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks

The message is found by the custom variable `v:omniroute-message-id` our sends set
(it comes back in `user-variables`), else by `message.headers.message-id`.

`failed` with `severity: temporary` is Mailgun deferring the delivery: it keeps
trying, and a later `delivered`, or `failed` with `severity: permanent`, is the
outcome. It is acknowledged and not recorded, since a failure after `sent` would
be final in our ranking. Other events (accepted, opened, clicked, complained, ...)
are acknowledged and ignored too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors import delivery_status, json_body, mailgun
from connectors.model import (
    DeliveryStatus,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    StatusUpdate,
    WebhookRequest,
)

__all__ = ["MESSAGE_ID_VARIABLE", "PROVIDER", "parse", "verify"]

PROVIDER: Final = "mailgun"
MESSAGE_ID_VARIABLE: Final = "omniroute-message-id"  # outbound.mailgun sets it
_FORM: Final = {"content-type": "application/x-www-form-urlencoded"}
# Where a refusal of `delivery_status.clean` points in the event.
_WIRE: Final = {
    "message_id": f"event-data.user-variables.{MESSAGE_ID_VARIABLE}",
    "provider_message_id": "event-data.message.headers.message-id",
    "id": "event-data.message.headers.message-id",
}


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Signature(_Shape):
    timestamp: str | int  # a string in Mailgun's payloads; a number is read too
    token: str
    signature: str


class _Signed(_Shape):
    signature: _Signature


class _Headers(_Shape):
    message_id: str | None = Field(default=None, alias="message-id")


class _Message(_Shape):
    headers: _Headers = _Headers()


class _SmtpStatus(_Shape):
    code: int | str | None = None  # the SMTP reply code, e.g. 550
    message: str | None = None
    description: str | None = None


class _EventData(_Shape):
    event: str
    timestamp: float | None = None  # unix seconds with a fraction
    severity: str | None = None  # failed only: permanent | temporary
    reason: str | None = None
    message: _Message = _Message()
    user_variables: object = Field(default=None, alias="user-variables")
    delivery_status: _SmtpStatus = Field(default=_SmtpStatus(), alias="delivery-status")


class _Event(_Shape):
    event_data: _EventData = Field(alias="event-data")


def verify(req: WebhookRequest, secret: str) -> None:
    """The `signature` object checked as inbound Mailgun's: HMAC, token, 15 minutes."""
    # connectors.mailgun.verify reads the same three fields from a form; handing it
    # them as one keeps a single implementation of the scheme.
    try:
        signed = _Signed.model_validate(json_body.load(req.body)).signature
    except (PayloadInvalid, ValidationError):
        raise SignatureInvalid(
            "no signature object with timestamp, token, signature"
        ) from None
    fields = {
        "timestamp": str(signed.timestamp),
        "token": signed.token,
        "signature": signed.signature,
    }
    form = WebhookRequest(
        body=urlencode(fields).encode(),
        headers=_FORM,
        url=req.url,
        received_at=req.received_at,
    )
    mailgun.verify(form, secret)


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The event's status; none for events that are not an outcome of delivery."""
    try:
        data = _Event.model_validate(json_body.load(body)).event_data
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise PayloadInvalid(field, error["msg"]) from None
    status = _status(data)
    if status is None:
        return Parsed()
    variables = data.user_variables
    ours = variables.get(MESSAGE_ID_VARIABLE) if isinstance(variables, dict) else None
    header_id = data.message.headers.message_id
    update = StatusUpdate(
        provider=PROVIDER,
        status=status,
        message_id=ours if isinstance(ours, str) and ours else None,
        # Stored without angle brackets, as inbound email and our sends store it.
        provider_message_id=header_id.strip().strip("<>") if header_id else None,
        at=delivery_status.from_unix(data.timestamp),
        error_code=_code(data.delivery_status.code),
        error=data.delivery_status.message
        or data.delivery_status.description
        or data.reason,
    )
    try:
        return Parsed(statuses=(delivery_status.clean(update),))
    except PayloadInvalid as exc:
        raise PayloadInvalid(_WIRE.get(exc.field, exc.field), exc.reason) from None


def _status(data: _EventData) -> DeliveryStatus | None:
    if data.event == "delivered":
        return DeliveryStatus.delivered
    if data.event == "failed" and data.severity == "permanent":
        return DeliveryStatus.failed
    return None


def _code(code: int | str | None) -> str | None:
    return None if code is None or code == "" else str(code)
