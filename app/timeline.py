"""A customer's messages across all channels, newest first, keyset-paginated."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_COLUMNS = (
    "id, customer_id, conversation_id, channel, direction, provider, provider_message_id,"
    " content_type, sender_kind, sender_value, sender_name, subject, text, full_text,"
    " sent_at, received_at, in_reply_to"
)
_ATTACHMENTS = text(
    "SELECT id, message_id, filename, content_type, size, sha256, url, provider_media_id"
    " FROM attachments WHERE message_id = ANY(:ids) ORDER BY message_id, position"
)
_ATTACHMENT = text(
    "SELECT id, filename, content_type, size, sha256, url, provider_media_id"
    " FROM attachments WHERE id = :id"
)


@dataclass(frozen=True, slots=True)
class AttachmentView:
    id: uuid.UUID
    filename: str | None
    content_type: str | None
    size: int | None
    sha256: str | None
    url: str | None
    provider_media_id: str | None


@dataclass(frozen=True, slots=True)
class MessageView:
    row: Row[tuple[object, ...]]
    attachments: tuple[AttachmentView, ...]


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[MessageView, ...]
    next_cursor: str | None


class CursorInvalid(ValueError):
    pass


def encode_cursor(sent_at: datetime, message_id: uuid.UUID) -> str:
    raw = json.dumps([sent_at.isoformat(), str(message_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Opaque to clients; anything that does not decode is a 400, not a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sent_at, message_id = json.loads(raw)
        parsed = datetime.fromisoformat(sent_at)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed, uuid.UUID(message_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as error:
        raise CursorInvalid("cursor is not one this API issued") from error


def _query(*, has_channels: bool, has_conversation: bool, has_cursor: bool) -> str:
    where = ["customer_id = :customer_id"]
    if has_channels:
        where.append("channel = ANY(:channels)")
    if has_conversation:
        where.append("conversation_id = :conversation_id")
    if has_cursor:
        where.append("(sent_at, id) < (:before_sent_at, :before_id)")
    return (
        f"SELECT {_COLUMNS} FROM messages WHERE {' AND '.join(where)}"
        " ORDER BY sent_at DESC, id DESC LIMIT :limit"
    )


async def page(
    engine: AsyncEngine,
    customer_id: uuid.UUID,
    *,
    limit: int,
    before: str | None = None,
    channels: Sequence[str] = (),
    conversation_id: uuid.UUID | None = None,
) -> Page:
    params: dict[str, object] = {"customer_id": customer_id, "limit": limit + 1}
    if before is not None:
        params["before_sent_at"], params["before_id"] = decode_cursor(before)
    if channels:
        params["channels"] = list(channels)
    if conversation_id is not None:
        params["conversation_id"] = conversation_id
    sql = _query(
        has_channels=bool(channels),
        has_conversation=conversation_id is not None,
        has_cursor=before is not None,
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(text(sql), params)).all()
        shown = rows[:limit]
        attachments = await _attachments_of(conn, [r.id for r in shown])
    items = tuple(MessageView(r, tuple(attachments.get(r.id, ()))) for r in shown)
    more = len(rows) > limit
    return Page(items, encode_cursor(shown[-1].sent_at, shown[-1].id) if more else None)


async def _attachments_of(
    conn: AsyncConnection, message_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[AttachmentView]]:
    grouped: dict[uuid.UUID, list[AttachmentView]] = defaultdict(list)
    if message_ids:
        for row in await conn.execute(_ATTACHMENTS, {"ids": message_ids}):
            grouped[row.message_id].append(_attachment_view(row))
    return grouped


def _attachment_view(row: Row[tuple[object, ...]]) -> AttachmentView:
    return AttachmentView(*(getattr(row, f) for f in AttachmentView.__slots__))


async def attachment(
    engine: AsyncEngine, attachment_id: uuid.UUID
) -> AttachmentView | None:
    async with engine.connect() as conn:
        row = (await conn.execute(_ATTACHMENT, {"id": attachment_id})).first()
    return _attachment_view(row) if row is not None else None
