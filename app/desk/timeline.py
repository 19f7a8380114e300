"""A customer's messages across all channels, newest first, keyset-paginated."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.db import Database
from app.desk.customers import check_live
from app.errors import BadRequest
from app.repositories.customers import Customers
from app.repositories.timeline import (
    AttachmentView,
    MessageView,
    Timeline,
    TimelineQuery,
)

__all__ = [
    "AttachmentView",
    "CursorInvalid",
    "MessageView",
    "Page",
    "attachment",
    "decode_cursor",
    "encode_cursor",
    "page",
]


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[MessageView, ...]
    next_cursor: str | None


class CursorInvalid(BadRequest):
    def __init__(self) -> None:
        super().__init__("cursor is not one this API issued", parameter="before")


# Stored times are clamped to this range at the connector boundary; a cursor outside
# it was not issued here (and year 1 at +14:00 overflows the driver's conversion).
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def encode_cursor(sent_at: datetime, message_id: uuid.UUID) -> str:
    raw = json.dumps([sent_at.isoformat(), str(message_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Opaque to clients; anything this API could not have issued is a 400, not a 500:
    exactly [aware ISO time within the stored range, UUID string]."""
    try:
        raw = base64.urlsafe_b64decode(
            cursor.encode("ascii") + b"=" * (-len(cursor) % 4)
        )
        sent_at, message_id = json.loads(raw)
        if not isinstance(sent_at, str) or not isinstance(message_id, str):
            raise TypeError("cursor fields are strings")
        parsed = datetime.fromisoformat(sent_at)
        if parsed.tzinfo is None or not _EARLIEST <= parsed <= _LATEST:
            raise ValueError("time outside what is stored")
        return parsed, uuid.UUID(message_id)
    except (ValueError, TypeError, OverflowError, binascii.Error) as error:
        raise CursorInvalid() from error


async def page(
    db: Database,
    customer_id: uuid.UUID,
    *,
    limit: int,
    before: str | None = None,
    channels: Sequence[str] = (),
    conversation_id: uuid.UUID | None = None,
) -> Page:
    async with db.connection() as conn:  # one checkout: liveness and the page
        # Liveness first: an unknown or merged customer is 404/308 whatever the cursor.
        check_live(customer_id, *await Customers(conn).exists(customer_id))
        query = TimelineQuery(
            customer_id=customer_id,
            limit=limit + 1,  # one more tells whether there is a next page
            before=decode_cursor(before) if before is not None else None,
            channels=channels,
            conversation_id=conversation_id,
        )
        rows = await Timeline(conn).messages(query)
    shown = tuple(rows[:limit])
    more = len(rows) > limit
    cursor = encode_cursor(shown[-1].sent_at, shown[-1].id) if more else None
    return Page(shown, cursor)


async def attachment(db: Database, attachment_id: uuid.UUID) -> AttachmentView | None:
    async with db.connection() as conn:
        return await Timeline(conn).attachment(attachment_id)
