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

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import driver_connection

_COLUMNS = (
    "id, customer_id, conversation_id, channel, direction, provider, provider_message_id,"
    " content_type, sender_kind, sender_value, sender_name, subject, text, full_text,"
    " sent_at, received_at, in_reply_to"
)
_ATTACHMENTS = (
    "SELECT id, message_id, filename, content_type, size, sha256, url, provider_media_id"
    " FROM attachments WHERE message_id = ANY($1::uuid[]) ORDER BY message_id, position"
)
_ATTACHMENT = (
    "SELECT id, filename, content_type, size, sha256, url, provider_media_id"
    " FROM attachments WHERE id = $1"
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
    row: asyncpg.Record
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
    where, n = ["customer_id = $1"], 2
    if has_channels:
        where.append(f"channel = ANY(${n}::text[])")
        n += 1
    if has_conversation:
        where.append(f"conversation_id = ${n}")
        n += 1
    if has_cursor:  # keyset: a row-value comparison the timeline index answers directly
        where.append(f"(sent_at, id) < (${n}, ${n + 1})")
        n += 2
    return (
        f"SELECT {_COLUMNS} FROM messages WHERE {' AND '.join(where)}"
        f" ORDER BY sent_at DESC, id DESC LIMIT ${n}"
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
    args: list[object] = [customer_id]
    if channels:
        args.append(list(channels))
    if conversation_id is not None:
        args.append(conversation_id)
    if before is not None:
        args.extend(decode_cursor(before))
    args.append(limit + 1)
    sql = _query(
        has_channels=bool(channels),
        has_conversation=conversation_id is not None,
        has_cursor=before is not None,
    )
    async with driver_connection(engine) as conn:
        rows = await conn.fetch(sql, *args)
        shown = rows[:limit]
        attachments = await _attachments_of(conn, [r["id"] for r in shown])
    items = tuple(MessageView(r, tuple(attachments.get(r["id"], ()))) for r in shown)
    more = len(rows) > limit
    cursor = encode_cursor(shown[-1]["sent_at"], shown[-1]["id"]) if more else None
    return Page(items, cursor)


async def _attachments_of(
    conn: asyncpg.Connection, message_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[AttachmentView]]:
    grouped: dict[uuid.UUID, list[AttachmentView]] = defaultdict(list)
    if message_ids:
        for row in await conn.fetch(_ATTACHMENTS, message_ids):
            grouped[row["message_id"]].append(_attachment_view(row))
    return grouped


def _attachment_view(row: asyncpg.Record) -> AttachmentView:
    return AttachmentView(*(row[f] for f in AttachmentView.__slots__))


async def attachment(
    engine: AsyncEngine, attachment_id: uuid.UUID
) -> AttachmentView | None:
    async with driver_connection(engine) as conn:
        row = await conn.fetchrow(_ATTACHMENT, attachment_id)
    return _attachment_view(row) if row is not None else None
