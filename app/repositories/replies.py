"""Outbound messages: the reply's context, its row and attachments, its status history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_CONVERSATION = (
    "SELECT id, customer_id, status, opened_at, first_response_at FROM conversations"
    " WHERE id = $1 FOR UPDATE"
)
_INBOUND_COLUMNS = (
    "id, channel, provider, sender_kind, sender_value, recipient, subject, sent_at,"
    " provider_message_id, email_message_id, reference_ids"
)
# The latest inbound message: of the conversation (optionally on one channel)...
_LATEST_IN_CONVERSATION = (
    f"SELECT {_INBOUND_COLUMNS} FROM messages WHERE conversation_id = $1"
    " AND direction = 'inbound' AND ($2::text IS NULL OR channel = $2)"
    " ORDER BY sent_at DESC, id DESC LIMIT 1"
)
# ...or of the customer on that channel, in any conversation (windows count from it).
_LATEST_OF_CUSTOMER = (
    f"SELECT {_INBOUND_COLUMNS} FROM messages WHERE customer_id = $1"
    " AND direction = 'inbound' AND channel = $2"
    " ORDER BY sent_at DESC, id DESC LIMIT 1"
)
_IDENTITY = (
    "SELECT value FROM identities WHERE customer_id = $1 AND kind = $2 AND verified"
    " ORDER BY value LIMIT 1"
)
_BY_KEY = "SELECT id, request_hash FROM messages WHERE idempotency_key = $1"
_INSERT = (
    "INSERT INTO messages (id, customer_id, conversation_id, channel, direction,"
    " provider, provider_message_id, content_type, sender_kind, sender_value,"
    " sender_name, recipient, subject, text, full_text, email_message_id, in_reply_to,"
    " reference_ids, sent_at, received_at, status, status_history, agent_id,"
    " idempotency_key, request_hash) VALUES ($1, $2, $3, $4, 'outbound', $5, NULL,"
    " 'text', 'agent', $6, NULL, $7, $8, $9, $9, $10, $11, $12, $13, $13, 'queued',"
    " jsonb_build_array(jsonb_build_object('status', 'queued', 'at', $13::timestamptz)),"
    " $14, $15, $16) ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL"
    " DO NOTHING RETURNING id"
)
_INSERT_ATTACHMENT = (
    "INSERT INTO attachments (id, message_id, position, filename, content_type, url)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_TOUCH_CONVERSATION = (
    "UPDATE conversations SET message_count = message_count + 1,"
    " last_message_at = greatest(last_message_at, $2),"
    " channels = CASE WHEN $3 = ANY(channels) THEN channels"
    " ELSE array_append(channels, $3::text) END,"
    " first_response_at = CASE WHEN $4 AND first_response_at IS NULL THEN $2"
    " ELSE first_response_at END,"
    " first_response_seconds = CASE WHEN $4 AND first_response_at IS NULL"
    " THEN extract(epoch FROM $2 - (SELECT min(sent_at) FROM messages"
    " WHERE conversation_id = $1 AND direction = 'inbound'))"
    " ELSE first_response_seconds END WHERE id = $1"
)
_LOCK_OUTBOUND = (
    "SELECT id, customer_id, conversation_id, channel, provider, provider_message_id,"
    " status, agent_id, sent_at FROM messages WHERE id = $1 AND direction = 'outbound'"
    " FOR UPDATE"
)
_LOCK_BY_PROVIDER_ID = (
    "SELECT id, customer_id, conversation_id, channel, provider, provider_message_id,"
    " status, agent_id, sent_at FROM messages WHERE provider = $1"
    " AND provider_message_id = $2 AND direction = 'outbound' FOR UPDATE"
)
# Messenger/Instagram watermarks: every outbound message to that recipient up to then.
_LOCK_UP_TO_WATERMARK = (
    "SELECT id, customer_id, conversation_id, channel, provider, provider_message_id,"
    " status, agent_id, sent_at FROM messages WHERE provider = $1 AND recipient = $2"
    " AND direction = 'outbound' AND provider_message_id IS NOT NULL AND sent_at <= $3"
    " AND status IN ('sent', 'delivered', 'unknown') ORDER BY sent_at, id FOR UPDATE"
)
_SET_STATUS = (
    "UPDATE messages SET status = $2::text, status_history = status_history ||"
    " jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('status', $2::text,"
    " 'at', $3::timestamptz, 'error_code', $4::text, 'error', $5::text))),"
    " error_code = $4, error_message = $5,"
    " provider_message_id = coalesce($6, provider_message_id) WHERE id = $1"
)


@dataclass(frozen=True, slots=True)
class ConversationForReply:
    id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    opened_at: datetime
    first_response_at: datetime | None


@dataclass(frozen=True, slots=True)
class InboundContext:
    """What a reply takes from the customer's message: who, where, which thread."""

    id: uuid.UUID
    channel: str
    provider: str
    sender_kind: str
    sender_value: str
    recipient: str | None  # ours: the number/page/address the customer wrote to
    subject: str | None
    sent_at: datetime
    provider_message_id: str | None
    email_message_id: str | None
    reference_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutboundRow:
    id: uuid.UUID
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    channel: str
    provider: str
    provider_message_id: str | None
    status: str
    agent_id: str | None
    sent_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewReply:
    id: uuid.UUID
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    channel: str
    provider: str
    agent_id: str | None
    recipient: str
    subject: str | None
    text: str
    email_message_id: str | None  # ours, for email threading
    in_reply_to: str | None
    references: tuple[str, ...]
    at: datetime
    idempotency_key: str | None
    request_hash: str
    attachments: Sequence[tuple[str | None, str | None, str]]  # filename, type, url


class Replies:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_conversation(
        self, conversation_id: uuid.UUID
    ) -> ConversationForReply | None:
        row = await self._conn.fetchrow(_CONVERSATION, conversation_id)
        return ConversationForReply(*row) if row is not None else None

    async def latest_inbound(
        self, conversation_id: uuid.UUID, channel: str | None
    ) -> InboundContext | None:
        row = await self._conn.fetchrow(
            _LATEST_IN_CONVERSATION, conversation_id, channel
        )
        return _context(row)

    async def latest_inbound_of_customer(
        self, customer_id: uuid.UUID, channel: str
    ) -> InboundContext | None:
        row = await self._conn.fetchrow(_LATEST_OF_CUSTOMER, customer_id, channel)
        return _context(row)

    async def identity(self, customer_id: uuid.UUID, kind: str) -> str | None:
        value: str | None = await self._conn.fetchval(_IDENTITY, customer_id, kind)
        return value

    async def by_idempotency_key(self, key: str) -> tuple[uuid.UUID, str] | None:
        row = await self._conn.fetchrow(_BY_KEY, key)
        return (row["id"], row["request_hash"]) if row is not None else None

    async def insert(self, reply: NewReply) -> bool:
        """Store the reply as queued; False when its idempotency key is taken."""
        stored = await self._conn.fetchval(
            _INSERT,
            reply.id,
            reply.customer_id,
            reply.conversation_id,
            reply.channel,
            reply.provider,
            reply.agent_id or "omniroute",
            reply.recipient,
            reply.subject,
            reply.text,
            reply.email_message_id,
            reply.in_reply_to,
            list(reply.references),
            reply.at,
            reply.agent_id,
            reply.idempotency_key,
            reply.request_hash,
        )
        if stored is None:
            return False
        rows = [
            (uuid.uuid4(), reply.id, i, name, kind, url)
            for i, (name, kind, url) in enumerate(reply.attachments)
        ]
        if rows:
            await self._conn.executemany(_INSERT_ATTACHMENT, rows)
        await self._conn.execute(
            _TOUCH_CONVERSATION,
            reply.conversation_id,
            reply.at,
            reply.channel,
            reply.agent_id is not None,
        )
        return True

    async def lock(self, message_id: uuid.UUID) -> OutboundRow | None:
        return _outbound(await self._conn.fetchrow(_LOCK_OUTBOUND, message_id))

    async def lock_by_provider_id(
        self, provider: str, provider_message_id: str
    ) -> OutboundRow | None:
        row = await self._conn.fetchrow(
            _LOCK_BY_PROVIDER_ID, provider, provider_message_id
        )
        return _outbound(row)

    async def lock_up_to_watermark(
        self, provider: str, recipient: str, watermark: datetime
    ) -> list[OutboundRow]:
        rows = await self._conn.fetch(
            _LOCK_UP_TO_WATERMARK, provider, recipient, watermark
        )
        return [OutboundRow(*r) for r in rows]

    async def set_status(
        self,
        message_id: uuid.UUID,
        status: str,
        at: datetime,
        *,
        error_code: str | None = None,
        error: str | None = None,
        provider_message_id: str | None = None,
    ) -> None:
        """Move to `status`, appending the transition to the history."""
        await self._conn.execute(
            _SET_STATUS, message_id, status, at, error_code, error, provider_message_id
        )


def _context(row: asyncpg.Record | None) -> InboundContext | None:
    if row is None:
        return None
    values = dict(row)
    values["reference_ids"] = tuple(values["reference_ids"])
    return InboundContext(**values)


def _outbound(row: asyncpg.Record | None) -> OutboundRow | None:
    return OutboundRow(*row) if row is not None else None
