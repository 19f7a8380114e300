"""Make a parsed delivery status safe to use: every status connector passes its
output through `clean`, as messages go through `connectors.sanitize`.

Ids become query parameters (`WHERE provider_message_id = $2`), where a NUL or a
lone surrogate would fail the statement for ever; they are cleaned, and refused
when empty or longer than any stored key can be. Error texts are stored and
logged, so they are cleaned and bounded. Times become UTC, or None when unusable.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final

from connectors import sanitize
from connectors.model import DeliveryStatus, PayloadInvalid, StatusUpdate

__all__ = ["ERROR_CODE_MAX", "ERROR_MAX", "clean", "from_unix"]

ERROR_CODE_MAX: Final = 64  # provider codes are short: 30003, 131050, 550
ERROR_MAX: Final = 1000  # a sentence or two; SMTP answers can be paragraphs
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")
# ASCII digits only (int() and float() take other scripts' too), bounded.
_NUMBER: Final = re.compile("[0-9]{1,20}(?:[.][0-9]{1,9})?")


def clean(update: StatusUpdate) -> StatusUpdate:
    """`update` cleaned and bounded; PayloadInvalid when it names no message."""
    cleaned = replace(
        update,
        provider_message_id=_key(update.provider_message_id, "provider_message_id"),
        message_id=_key(update.message_id, "message_id"),
        recipient=_key(update.recipient, "recipient"),
        at=sanitize.sent_at(update.at),
        watermark=sanitize.sent_at(update.watermark),
        error_code=_line(update.error_code, ERROR_CODE_MAX),
        error=_line(update.error, ERROR_MAX),
    )
    if update.status is not DeliveryStatus.failed:
        cleaned = replace(cleaned, error_code=None, error=None)
    by_id = cleaned.provider_message_id or cleaned.message_id
    if not by_id and not (cleaned.recipient and cleaned.watermark):
        raise PayloadInvalid("id", "names no message (no id, or no usable watermark)")
    return cleaned


def from_unix(value: object, *, per_second: int = 1) -> datetime | None:
    """Aware UTC time from a unix count (int, float or decimal string); None if unusable."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        value = int(value) if value.isdigit() else float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        # Whole counts in integer arithmetic, so milliseconds stay exact.
        micros = (
            value * 1_000_000 // per_second
            if isinstance(value, int)
            else round(value * 1_000_000 / per_second)
        )
        return _EPOCH + timedelta(microseconds=micros) if micros >= 0 else None
    except (ValueError, OverflowError):  # nan, inf, beyond year 9999
        return None


def _key(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    cleaned = sanitize.clean_text(value).strip()
    if not cleaned:
        raise PayloadInvalid(field, "is empty")
    if len(cleaned.encode()) > sanitize.KEY_MAX_BYTES:
        raise PayloadInvalid(field, "too long")
    return cleaned


def _line(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    cleaned = _CONTROL.sub(" ", sanitize.clean_text(value)).strip()[:limit]
    return cleaned or None
