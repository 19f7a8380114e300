"""SQL of the ingest path, executed on the asyncpg driver connection.

The hot path drops below SQLAlchemy (see shared/perf-notes.md: the driver is ~3x cheaper
per statement) and folds its writes into few round trips. No commits here: the caller
owns the transaction (app/ingest.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.events import OutboxRow
from connectors.model import Attachment, IdentityClaim, InboundMessage
from routing.model import ConversationState, Decision, Priority

# The customer row is locked: one customer's messages are ingested one at a time.
_CUSTOMER_COLUMNS = (
    "c.id, c.merged_into, c.tags, v.id AS conversation_id, v.last_message_at, v.queue,"
    " v.priority, v.skills, v.tags AS conversation_tags"
    " FROM customers c LEFT JOIN conversations v"
    " ON v.customer_id = c.id AND v.status = 'open'"
)
_LOCK_BY_IDENTITY = (
    f"SELECT {_CUSTOMER_COLUMNS} JOIN identities i ON i.customer_id = c.id"
    " AND i.kind = $1 AND i.value = $2 AND i.verified FOR UPDATE OF c"
)
_LOCK_BY_ID = f"SELECT {_CUSTOMER_COLUMNS} WHERE c.id = $1 FOR UPDATE OF c"
_CREATE_WITH_IDENTITY = (
    "WITH c AS (INSERT INTO customers (id, display_name) VALUES ($1, $2) RETURNING id)"
    " INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " SELECT c.id, $3, $4, true, $2 FROM c"
    " ON CONFLICT (kind, value) WHERE verified DO NOTHING RETURNING customer_id"
)
_DELETE_CUSTOMER = "DELETE FROM customers WHERE id = $1"
_VERIFIED_OWNER = (
    "SELECT customer_id FROM identities WHERE kind = $1 AND value = $2 AND verified"
)
_ADD_VERIFIED = (
    "WITH gone AS (DELETE FROM identities WHERE customer_id = $1"
    " AND kind = $2 AND value = $3 AND NOT verified)"
    " INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " VALUES ($1, $2, $3, true, $4)"
    " ON CONFLICT (kind, value) WHERE verified DO NOTHING RETURNING customer_id"
)
_ADD_CLAIM = (
    "INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " SELECT $1::uuid, $2::varchar, $3::text, false, $4::text WHERE NOT EXISTS ("
    "  SELECT 1 FROM identities WHERE customer_id = $1 AND kind = $2 AND value = $3"
    "  AND verified) ON CONFLICT (customer_id, kind, value) WHERE NOT verified DO NOTHING"
)
_THREAD_PARENT = (
    "SELECT conversation_id FROM messages WHERE customer_id = $1"
    " AND email_message_id = ANY($2::text[]) ORDER BY sent_at DESC, id DESC LIMIT 1"
)
_CLOSE = (
    "UPDATE conversations SET status = 'closed', closed_at = $2, close_reason = $3"
    " WHERE id = $1 AND status = 'open'"
)
_CLOSE_OTHERS = (
    "UPDATE conversations SET status = 'closed', closed_at = $3, close_reason = $4"
    " WHERE customer_id = $1 AND status = 'open' AND id <> $2"
)
_REOPEN = (
    "UPDATE conversations SET status = 'open', closed_at = NULL, close_reason = NULL"
    " WHERE id = $1 AND status = 'closed'"
)
_OPEN = (
    "INSERT INTO conversations (id, customer_id, status, opened_at, last_message_at)"
    " VALUES ($1, $2, 'open', $3, $3)"
)
# Message, conversation bookkeeping and routing, decision, outbox row and the relay's
# wake-up in one round trip. No row back = duplicate (and nothing else was written).
# NOTIFY is delivered only on commit, so the relay never wakes for a rolled-back row.
_INSERT_MESSAGE = (
    "WITH m AS (INSERT INTO messages (id, customer_id, conversation_id, channel, direction,"
    " provider, provider_message_id, content_type, sender_kind, sender_value, sender_name,"
    " recipient, subject, text, full_text, locale, email_message_id, in_reply_to,"
    " reference_ids, sent_at, received_at) VALUES ($1, $2, $3, $4, 'inbound', $5, $6, $7,"
    " $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    " ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id),"
    " c AS (UPDATE conversations SET last_message_at = greatest(last_message_at, $20),"
    " message_count = message_count + 1, channels = CASE WHEN $4 = ANY(channels)"
    " THEN channels ELSE array_append(channels, $4::text) END, queue = $22,"
    " priority = $23, skills = $24, tags = $25 FROM m WHERE conversations.id = $3),"
    " d AS (INSERT INTO decisions (id, message_id, conversation_id, customer_id, queue,"
    " priority, skills, tags, language, rule_id, matched_conditions, reason, rules_version,"
    " new_conversation, changed, escalated, previous_queue, previous_priority, decided_at)"
    " SELECT $21, m.id, $3, $2, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32,"
    " $33, $34, $35, $20 FROM m),"
    " o AS (INSERT INTO outbox (topic, key, event_id, payload)"
    " SELECT $36, $2::text, $21, $37::jsonb FROM m)"
    " SELECT m.id, pg_notify('omniroute_outbox', '') FROM m"
)
_INSERT_ATTACHMENT = (
    "INSERT INTO attachments (id, message_id, position, filename, content_type, size,"
    " sha256, url, provider_media_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_MESSAGE_EXISTS = (
    "SELECT 1 FROM messages WHERE provider = $1 AND provider_message_id = $2"
)
_RECORD_NONCE = (
    "INSERT INTO webhook_nonces (connector, nonce) VALUES ($1, $2)"
    " ON CONFLICT DO NOTHING RETURNING 1"
)


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment ready for its row: bytes already written under their sha256."""

    source: Attachment
    sha256: str | None


@dataclass(frozen=True, slots=True)
class OpenConversation:
    id: uuid.UUID
    last_message_at: datetime
    routing: ConversationState | None  # None until its first decision


@dataclass(frozen=True, slots=True)
class LockedCustomer:
    """A live customer, row-locked, with its open conversation if any."""

    id: uuid.UUID
    tags: tuple[str, ...] = ()
    conversation: OpenConversation | None = None


class Customers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_by_identity(self, claim: IdentityClaim) -> LockedCustomer | None:
        """The live customer owning a verified identity, row-locked; None if unknown."""
        row = await self._conn.fetchrow(
            _LOCK_BY_IDENTITY, claim.kind.value, claim.value
        )
        if row is None:
            return None
        return (
            await self.lock(row["merged_into"]) if row["merged_into"] else _locked(row)
        )

    async def lock(self, customer_id: uuid.UUID) -> LockedCustomer:
        """Lock a customer row, following merges to the survivor."""
        while True:
            row = await self._conn.fetchrow(_LOCK_BY_ID, customer_id)
            if row["merged_into"] is None:
                return _locked(row)
            customer_id = row["merged_into"]

    async def create_with_identity(self, claim: IdentityClaim) -> LockedCustomer | None:
        """A new customer owning `claim`; None when a concurrent twin won the identity."""
        new_id = uuid.uuid4()
        args = (new_id, claim.name, claim.kind.value, claim.value)
        if await self._conn.fetchval(_CREATE_WITH_IDENTITY, *args) is not None:
            return LockedCustomer(new_id)
        await self._conn.execute(_DELETE_CUSTOMER, new_id)
        return None

    async def verified_owner(self, claim: IdentityClaim) -> uuid.UUID | None:
        owner: uuid.UUID | None = await self._conn.fetchval(
            _VERIFIED_OWNER, claim.kind.value, claim.value
        )
        return owner

    async def add_verified(self, customer_id: uuid.UUID, claim: IdentityClaim) -> bool:
        """Attach a verified identity (upgrading a claim); False when another owns it."""
        args = (customer_id, claim.kind.value, claim.value, claim.name)
        return await self._conn.fetchval(_ADD_VERIFIED, *args) is not None

    async def add_claim(self, customer_id: uuid.UUID, claim: IdentityClaim) -> None:
        """Keep an unverified claim; it is shown but never used to stitch."""
        await self._conn.execute(
            _ADD_CLAIM, customer_id, claim.kind.value, claim.value, claim.name
        )


def _locked(row: asyncpg.Record) -> LockedCustomer:
    conversation = None
    if row["conversation_id"] is not None:
        routing = None
        if row["queue"] is not None:
            routing = ConversationState(
                is_open=True,
                queue=row["queue"],
                priority=Priority(row["priority"]),
                skills=tuple(row["skills"]),
                tags=tuple(row["conversation_tags"]),
            )
        conversation = OpenConversation(
            row["conversation_id"], row["last_message_at"], routing
        )
    return LockedCustomer(row["id"], tuple(row["tags"]), conversation)


class Conversations:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def thread_parent(
        self, customer_id: uuid.UUID, message_ids: Sequence[str]
    ) -> uuid.UUID | None:
        """The conversation of the newest stored email among `message_ids`."""
        found: uuid.UUID | None = await self._conn.fetchval(
            _THREAD_PARENT, customer_id, list(message_ids)
        )
        return found

    async def close_others(
        self, customer_id: uuid.UUID, keep: uuid.UUID, now: datetime, reason: str
    ) -> None:
        await self._conn.execute(_CLOSE_OTHERS, customer_id, keep, now, reason)

    async def reopen(self, conversation_id: uuid.UUID) -> None:
        await self._conn.execute(_REOPEN, conversation_id)

    async def close(
        self, conversation_id: uuid.UUID, at: datetime, reason: str
    ) -> None:
        await self._conn.execute(_CLOSE, conversation_id, at, reason)

    async def open(self, customer_id: uuid.UUID, now: datetime) -> uuid.UUID:
        new_id = uuid.uuid4()
        await self._conn.execute(_OPEN, new_id, customer_id, now)
        return new_id


class Messages:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def exists(self, provider: str, provider_message_id: str) -> bool:
        return (
            await self._conn.fetchval(_MESSAGE_EXISTS, provider, provider_message_id)
            is not None
        )

    async def insert(
        self,
        msg: InboundMessage,
        *,
        message_id: uuid.UUID,
        customer_id: uuid.UUID,
        conversation_id: uuid.UUID,
        sent_at: datetime,
        received_at: datetime,
        decision: Decision,
        decision_id: uuid.UUID,
        event: OutboxRow,
    ) -> bool:
        """Insert the message with its decision and event; False on a duplicate."""
        args = _message_args(msg, message_id, customer_id, conversation_id)
        stored = await self._conn.fetchval(
            _INSERT_MESSAGE,
            *args,
            sent_at,
            received_at,
            *_decision_args(decision, decision_id),
            event.topic,
            event.payload,
        )
        return stored is not None

    async def add_attachments(
        self, message_id: uuid.UUID, attachments: Sequence[StoredAttachment]
    ) -> None:
        rows = [_attachment_args(message_id, i, a) for i, a in enumerate(attachments)]
        if rows:
            await self._conn.executemany(_INSERT_ATTACHMENT, rows)


class Nonces:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(self, connector: str, nonce: str) -> bool:
        """True the first time a nonce is seen; False for a replay."""
        return await self._conn.fetchval(_RECORD_NONCE, connector, nonce) is not None


def _message_args(
    msg: InboundMessage,
    message_id: uuid.UUID,
    customer_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> tuple[object, ...]:
    email = msg.email
    return (
        message_id,
        customer_id,
        conversation_id,
        msg.channel.value,
        msg.provider,
        msg.provider_message_id,
        msg.content_type,
        msg.sender.kind.value,
        msg.sender.value,
        msg.sender.name,
        msg.recipient,
        msg.subject,
        msg.text,
        msg.full_text if msg.full_text is not None else msg.text,
        msg.locale,
        email.message_id if email else None,
        email.in_reply_to[0] if email and email.in_reply_to else None,
        list(email.references) if email else [],
    )


def _decision_args(decision: Decision, decision_id: uuid.UUID) -> tuple[object, ...]:
    previous = decision.previous_priority
    return (
        decision_id,
        decision.queue,
        decision.priority.value,
        list(decision.skills),
        list(decision.tags),
        decision.language,
        decision.rule_id,
        list(decision.matched_conditions),
        decision.reason,
        decision.rules_version,
        decision.new_conversation,
        decision.changed,
        decision.escalated,
        decision.previous_queue,
        previous.value if previous is not None else None,
    )


def _attachment_args(
    message_id: uuid.UUID, position: int, stored: StoredAttachment
) -> tuple[object, ...]:
    a = stored.source
    size = a.size if a.size is not None else (len(a.content) if a.content else None)
    return (
        uuid.uuid4(),
        message_id,
        position,
        a.filename,
        a.content_type,
        size,
        stored.sha256,
        a.url,
        a.provider_media_id,
    )
