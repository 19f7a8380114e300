"""Make a parsed message safe to store: every connector passes its output through here.

PostgreSQL `text` cannot hold NUL and UTF-8 cannot encode a lone surrogate, so either
one in any string makes the INSERT fail for ever, however often the provider retries.
Here NUL characters are removed and lone surrogates replaced by U+FFFD, in every string
field including the nested ones. Lengths are brought within the columns of
`migrations/versions/0001_initial_schema.py`:

- keys (ids, sender and identity values, the email Message-ID) are never cut, since
  a cut key would deduplicate two messages into one: above `KEY_MAX_BYTES` the
  message is refused with PayloadInvalid(field, "too long");
- display fields (names, subject, locale, content types, filenames) are truncated.

`sent_at` becomes UTC, or None before the Unix epoch or when not representable; the
app's receipt-time fallback (also for a clock too far ahead) applies to None.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from connectors.model import (
    Attachment,
    EmailHeaders,
    IdentityClaim,
    InboundMessage,
    Parsed,
    PayloadInvalid,
)

__all__ = [
    "KEY_MAX_BYTES",
    "MAX_REFERENCES",
    "clean_text",
    "message",
    "sent_at",
    "single",
]

# A btree index entry may not exceed 2704 bytes (a third of an 8 kB page). The
# unique indexes pair a key with a provider or kind of at most 32 characters, so
# 1024 bytes of UTF-8 leaves room and is far above any id a provider sends.
KEY_MAX_BYTES: Final = 1024
MAX_REFERENCES: Final = 100  # References kept: the first (thread root) and the newest
_LOCALE_MAX: Final = 35  # messages.locale varchar(35)
_CONTENT_TYPE_MAX: Final = 32  # messages.content_type varchar(32)
# Text columns, bounded so one field cannot fill a page or a log line:
_NAME_MAX: Final = 256  # messages.sender_name, identities.name_hint
_SUBJECT_MAX: Final = 2000  # messages.subject
_MEDIA_TYPE_MAX: Final = 255  # attachments.content_type: RFC 6838 §4.2, 127 + 1 + 127
_FILENAME_MAX: Final = 255  # attachments.filename: the usual file-system limit
_BIGINT_MAX: Final = 2**63 - 1  # attachments.size bigint
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# C0 controls and DEL: they end up in HTTP headers (attachment downloads), where
# h11 refuses them.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")


def clean_text(value: str) -> str:
    """`value` with NUL characters removed and lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return value


def message(msg: InboundMessage) -> InboundMessage:
    """`msg` cleaned and bounded; PayloadInvalid when a key is too long or empty."""
    return replace(
        msg,
        provider_message_id=_key(msg.provider_message_id, "provider_message_id"),
        sender=_identity(msg.sender, "sender"),
        text=clean_text(msg.text),
        full_text=_optional(msg.full_text),
        subject=_display(msg.subject, _SUBJECT_MAX),
        sent_at=sent_at(msg.sent_at),
        attachments=tuple(_attachment(item) for item in msg.attachments),
        email=None if msg.email is None else _email(msg.email),
        linked_identities=tuple(
            _identity(claim, f"linked_identities[{i}]")
            for i, claim in enumerate(msg.linked_identities)
        ),
        locale=_single_line(msg.locale, _LOCALE_MAX),
        recipient=_optional(msg.recipient),
        content_type=_single_line(msg.content_type, _CONTENT_TYPE_MAX) or "text",
    )


def single(msg: InboundMessage) -> Parsed:
    """The Parsed of a one-message webhook; a refusal raises, as for the whole body."""
    return Parsed(messages=(message(msg),))


def sent_at(value: datetime | None) -> datetime | None:
    """The instant in UTC; None if naive, before 1970 or outside datetime's range."""
    if value is None or value.utcoffset() is None:
        return None
    try:
        # 0001-01-01T00:00:00+14:00 is year 0 in UTC: OverflowError.
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return utc if utc >= _EPOCH else None


def _key(value: str, field: str) -> str:
    cleaned = clean_text(value)
    if not cleaned:
        raise PayloadInvalid(field, "is empty")
    if _too_long(cleaned):
        raise PayloadInvalid(field, "too long")
    return cleaned


def _too_long(value: str) -> bool:
    # At most 4 bytes a character: short strings need no encoding to be sure.
    return len(value) * 4 > KEY_MAX_BYTES and len(value.encode()) > KEY_MAX_BYTES


def _optional(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def _display(value: str | None, limit: int) -> str | None:
    return None if value is None else clean_text(value)[:limit]


def _single_line(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    return _CONTROL.sub("", clean_text(value))[:limit]


def _identity(claim: IdentityClaim, field: str) -> IdentityClaim:
    return replace(
        claim,
        value=_key(claim.value, f"{field}.value"),
        name=_display(claim.name, _NAME_MAX),
    )


def _attachment(item: Attachment) -> Attachment:
    size = item.size
    return replace(
        item,
        filename=_single_line(item.filename, _FILENAME_MAX),
        content_type=_single_line(item.content_type, _MEDIA_TYPE_MAX),
        size=size if size is not None and 0 <= size <= _BIGINT_MAX else None,
        url=_optional(item.url),
        provider_media_id=_optional(item.provider_media_id),
    )


def _email(headers: EmailHeaders) -> EmailHeaders:
    own = headers.message_id
    return EmailHeaders(
        message_id=None if own is None else _key(own, "email.message_id"),
        in_reply_to=_references(headers.in_reply_to),
        references=_references(headers.references),
    )


def _references(ids: tuple[str, ...]) -> tuple[str, ...]:
    """Cleaned ids; an empty or over-long one can never match a stored Message-ID."""
    kept = [c for c in map(clean_text, ids) if c and not _too_long(c)]
    if len(kept) > MAX_REFERENCES:
        kept = [kept[0], *kept[-(MAX_REFERENCES - 1) :]]
    return tuple(kept)
