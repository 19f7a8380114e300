"""Twilio status callbacks: what became of a message we sent (SMS, MMS, WhatsApp).

Twilio POSTs a form to the `StatusCallback` URL of the send (ours:
`/webhooks/twilio/status`) each time the message changes status, signed like the
inbound webhook, so `connectors.twilio.verify` checks it.
https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks
Status values: https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl

from connectors import delivery_status
from connectors.model import DeliveryStatus, Parsed, PayloadInvalid, StatusUpdate

__all__ = ["PROVIDER", "STATUSES", "parse"]

PROVIDER: Final = "twilio"
# Every status Twilio reports for an outbound message. The ones before `sent` mean
# Twilio has it (our `sent`: the provider accepted it); `undelivered` is the carrier
# refusing it and `canceled` a scheduled send called off: neither will arrive.
# `read` comes from WhatsApp. Others (`receiving`, `received`: inbound; anything new)
# say nothing about a send and are acknowledged without effect.
STATUSES: Final = {
    "accepted": DeliveryStatus.sent,
    "scheduled": DeliveryStatus.sent,
    "queued": DeliveryStatus.sent,
    "sending": DeliveryStatus.sent,
    "sent": DeliveryStatus.sent,
    "delivered": DeliveryStatus.delivered,
    "read": DeliveryStatus.read,
    "undelivered": DeliveryStatus.failed,
    "failed": DeliveryStatus.failed,
    "canceled": DeliveryStatus.failed,
}
# The Message SID of connectors.twilio: SM or MM and 32 hex digits.
_MESSAGE_SID: Final = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
# `SmsSid`/`SmsStatus` are the legacy names Twilio still sends beside the new ones.
_SID_FIELDS: Final = ("MessageSid", "SmsSid")
_STATUS_FIELDS: Final = ("MessageStatus", "SmsStatus")


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The one status of a callback; none for a status that says nothing about a send."""
    form = _form(body)
    sid = _first(form, _SID_FIELDS)
    if not _MESSAGE_SID.fullmatch(sid):
        raise PayloadInvalid("MessageSid", "is not a Message SID (SM or MM + 32 hex)")
    raw = _first(form, _STATUS_FIELDS)
    status = STATUSES.get(raw)
    if status is None:
        return Parsed()
    update = StatusUpdate(
        provider=PROVIDER,
        provider_message_id=sid,
        status=status,
        # ErrorCode: https://www.twilio.com/docs/api/errors (30003 unreachable, ...);
        # the status word tells undelivered (carrier) from failed (Twilio).
        error_code=form.get("ErrorCode") or None,
        error=raw,
    )
    return Parsed(statuses=(delivery_status.clean(update),))


def _form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadInvalid("body", "is not UTF-8") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


def _first(form: Mapping[str, str], names: tuple[str, ...]) -> str:
    value = next((form[name] for name in names if form.get(name)), None)
    if value is None:
        raise PayloadInvalid(names[0], "is required")
    return value
