"""A customer's messages across channels, newest first by (sent_at, id), and attachments."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson

_COLUMNS = (
    "id, customer_id, conversation_id, channel, direction, provider, provider_message_id,"
    " content_type, sender_kind, sender_value, sender_name, subject, text, full_text,"
    " sent_at, received_at, in_reply_to, status, status_history::text, agent_id,"
    " error_code, error_message, edit_history"
)
_ATTACHMENT_COLUMNS = "id, filename, content_type, size, sha256, url, provider_media_id"
_ATTACHMENTS_OF = (
    f"SELECT message_id, {_ATTACHMENT_COLUMNS} FROM attachments"
    " WHERE message_id = ANY($1::uuid[]) ORDER BY message_id, position"
)
_ATTACHMENT = f"SELECT {_ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1"
_ONE = f"SELECT {_COLUMNS} FROM messages WHERE id = $1"


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
class EditView:
    """A text an edit replaced, and when (oldest first in `MessageView.edit_history`)."""

    text: str
    edited_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageView:
    id: uuid.UUID
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    channel: str
    direction: str
    provider: str
    provider_message_id: str | None  # outbound: once sent
    content_type: str
    sender_kind: str
    sender_value: str
    sender_name: str | None
    subject: str | None
    text: str
    full_text: str
    sent_at: datetime
    received_at: datetime
    in_reply_to: str | None
    status: str | None = None  # outbound only, as the rest below
    status_history: tuple[Mapping[str, object], ...] = ()
    agent_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attachments: tuple[AttachmentView, ...] = ()
    edit_history: tuple[EditView, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineQuery:
    customer_id: uuid.UUID
    limit: int
    before: tuple[datetime, uuid.UUID] | None = None  # keyset position
    channels: Sequence[str] = ()
    conversation_id: uuid.UUID | None = None


def _sql(query: TimelineQuery) -> tuple[str, list[object]]:
    where: list[str] = ["customer_id = $1"]
    args: list[object] = [query.customer_id]
    if query.channels:
        args.append(list(query.channels))
        where.append(f"channel = ANY(${len(args)}::text[])")
    if query.conversation_id is not None:
        args.append(query.conversation_id)
        where.append(f"conversation_id = ${len(args)}")
    if query.before is not None:  # a row-value comparison the timeline index answers
        args.extend(query.before)
        where.append(f"(sent_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(query.limit)
    sql = (
        f"SELECT {_COLUMNS} FROM messages WHERE {' AND '.join(where)}"
        f" ORDER BY sent_at DESC, id DESC LIMIT ${len(args)}"
    )
    return sql, args


class Timeline:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def messages(self, query: TimelineQuery) -> list[MessageView]:
        """Up to `query.limit` messages, newest first, with their attachments."""
        sql, args = _sql(query)
        return await self._views(await self._conn.fetch(sql, *args))

    async def message(self, message_id: uuid.UUID) -> MessageView | None:
        rows = await self._conn.fetch(_ONE, message_id)
        views = await self._views(rows)
        return views[0] if views else None

    async def _views(self, rows: list[asyncpg.Record]) -> list[MessageView]:
        attachments = await self._attachments_of([r["id"] for r in rows])
        return [_view(r, tuple(attachments.get(r["id"], ()))) for r in rows]

    async def attachment(self, attachment_id: uuid.UUID) -> AttachmentView | None:
        row = await self._conn.fetchrow(_ATTACHMENT, attachment_id)
        return AttachmentView(*row) if row is not None else None

    async def _attachments_of(
        self, message_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[AttachmentView]]:
        grouped: dict[uuid.UUID, list[AttachmentView]] = defaultdict(list)
        if message_ids:
            for row in await self._conn.fetch(_ATTACHMENTS_OF, message_ids):
                grouped[row["message_id"]].append(AttachmentView(*tuple(row)[1:]))
        return grouped


def _view(row: asyncpg.Record, attachments: tuple[AttachmentView, ...]) -> MessageView:
    values = dict(row)
    values["status_history"] = tuple(orjson.loads(values["status_history"]))
    values["edit_history"] = _edits(values["edit_history"])
    return MessageView(**values, attachments=attachments)


def _edits(document: str) -> tuple[EditView, ...]:
    """The jsonb edit history (asyncpg hands jsonb over as text)."""
    return tuple(
        EditView(entry["text"], datetime.fromisoformat(entry["edited_at"]))
        for entry in json.loads(document)
    )
