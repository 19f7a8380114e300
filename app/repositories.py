"""SQL for the ingest path and the merge, as Core statements on one AsyncConnection.

No commits here: the caller owns the transaction (app/ingest.py, app/customers.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.model import Attachment, IdentityClaim, InboundMessage

_LOCK_BY_IDENTITY = text(
    "SELECT c.id, c.merged_into FROM identities i JOIN customers c ON c.id = i.customer_id"
    " WHERE i.kind = :kind AND i.value = :value AND i.verified FOR UPDATE OF c"
)
_LOCK_CUSTOMER = text("SELECT merged_into FROM customers WHERE id = :id FOR UPDATE")
_CREATE_WITH_IDENTITY = text(
    "WITH c AS (INSERT INTO customers (id, display_name) VALUES (:id, :name) RETURNING id)"
    " INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " SELECT c.id, :kind, :value, true, :name FROM c"
    " ON CONFLICT (kind, value) WHERE verified DO NOTHING RETURNING customer_id"
)
_DELETE_CUSTOMER = text("DELETE FROM customers WHERE id = :id")
_VERIFIED_OWNER = text(
    "SELECT customer_id FROM identities WHERE kind = :kind AND value = :value AND verified"
)
_ADD_VERIFIED = text(
    "WITH gone AS (DELETE FROM identities WHERE customer_id = :customer_id"
    " AND kind = :kind AND value = :value AND NOT verified)"
    " INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " VALUES (:customer_id, :kind, :value, true, :name)"
    " ON CONFLICT (kind, value) WHERE verified DO NOTHING RETURNING customer_id"
)
_ADD_CLAIM = text(
    "INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " SELECT CAST(:customer_id AS uuid), CAST(:kind AS varchar), CAST(:value AS text),"
    " false, CAST(:name AS text) WHERE NOT EXISTS ("
    "  SELECT 1 FROM identities WHERE customer_id = :customer_id"
    "  AND kind = :kind AND value = :value AND verified)"
    " ON CONFLICT (customer_id, kind, value) WHERE NOT verified DO NOTHING"
)
_THREAD_PARENT = text(
    "SELECT conversation_id FROM messages WHERE customer_id = :customer_id"
    " AND email_message_id = ANY(:ids) ORDER BY sent_at DESC, id DESC LIMIT 1"
)
_OPEN_CONVERSATION = text(
    "SELECT id, last_message_at FROM conversations"
    " WHERE customer_id = :customer_id AND status = 'open'"
)
_CLOSE = text(
    "UPDATE conversations SET status = 'closed', closed_at = :closed_at,"
    " close_reason = :reason WHERE id = :id AND status = 'open'"
)
_CLOSE_OTHERS = text(
    "UPDATE conversations SET status = 'closed', closed_at = :now, close_reason = :reason"
    " WHERE customer_id = :customer_id AND status = 'open' AND id <> :keep"
)
_REOPEN = text(
    "UPDATE conversations SET status = 'open', closed_at = NULL, close_reason = NULL"
    " WHERE id = :id AND status = 'closed'"
)
_OPEN = text(
    "INSERT INTO conversations (id, customer_id, status, opened_at, last_message_at)"
    " VALUES (:id, :customer_id, 'open', :now, :now)"
)
# Message insert and conversation bookkeeping in one round trip; no row back = duplicate.
_INSERT_MESSAGE = text(
    "WITH m AS (INSERT INTO messages (id, customer_id, conversation_id, channel, direction,"
    " provider, provider_message_id, content_type, sender_kind, sender_value, sender_name,"
    " recipient, subject, text, full_text, locale, email_message_id, in_reply_to,"
    " reference_ids, sent_at, received_at) VALUES (:id, :customer_id, :conversation_id,"
    " :channel, 'inbound', :provider, :provider_message_id, :content_type, :sender_kind,"
    " :sender_value, :sender_name, :recipient, :subject, :text, :full_text, :locale,"
    " :email_message_id, :in_reply_to, :reference_ids, :sent_at, :received_at)"
    " ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id)"
    " UPDATE conversations SET last_message_at = greatest(last_message_at, :received_at),"
    " message_count = message_count + 1, channels = CASE WHEN :channel = ANY(channels)"
    " THEN channels ELSE array_append(channels, CAST(:channel AS text)) END"
    " FROM m WHERE conversations.id = :conversation_id RETURNING m.id"
)
_INSERT_ATTACHMENT = text(
    "INSERT INTO attachments (id, message_id, position, filename, content_type, size,"
    " sha256, url, provider_media_id) VALUES (:id, :message_id, :position, :filename,"
    " :content_type, :size, :sha256, :url, :provider_media_id)"
)
_MESSAGE_EXISTS = text(
    "SELECT 1 FROM messages WHERE provider = :provider AND provider_message_id = :pmid"
)
_RECORD_NONCE = text(
    "INSERT INTO webhook_nonces (connector, nonce) VALUES (:connector, :nonce)"
    " ON CONFLICT DO NOTHING RETURNING 1"
)


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment ready for its row: bytes already written under their sha256."""

    source: Attachment
    sha256: str | None


class Customers:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock_by_identity(self, claim: IdentityClaim) -> uuid.UUID | None:
        """The live customer owning a verified identity, row-locked; None if unknown."""
        params = {"kind": claim.kind.value, "value": claim.value}
        row = (await self._conn.execute(_LOCK_BY_IDENTITY, params)).first()
        if row is None:
            return None
        return await self.lock(row.merged_into) if row.merged_into else row.id

    async def lock(self, customer_id: uuid.UUID) -> uuid.UUID:
        """Lock a customer row, following merges to the survivor."""
        while True:
            params = {"id": customer_id}
            merged_into = (await self._conn.execute(_LOCK_CUSTOMER, params)).scalar()
            if merged_into is None:
                return customer_id
            customer_id = merged_into

    async def create_with_identity(self, claim: IdentityClaim) -> uuid.UUID | None:
        """A new customer owning `claim`; None when a concurrent twin won the identity."""
        new_id = uuid.uuid4()
        params = {
            "id": new_id,
            "name": claim.name,
            "kind": claim.kind.value,
            "value": claim.value,
        }
        if (await self._conn.execute(_CREATE_WITH_IDENTITY, params)).first():
            return new_id
        await self._conn.execute(_DELETE_CUSTOMER, {"id": new_id})
        return None

    async def verified_owner(self, claim: IdentityClaim) -> uuid.UUID | None:
        params = {"kind": claim.kind.value, "value": claim.value}
        owner: uuid.UUID | None = (
            await self._conn.execute(_VERIFIED_OWNER, params)
        ).scalar()
        return owner

    async def add_verified(self, customer_id: uuid.UUID, claim: IdentityClaim) -> bool:
        """Attach a verified identity (upgrading a claim); False when another owns it."""
        params = _identity_params(customer_id, claim)
        return (await self._conn.execute(_ADD_VERIFIED, params)).first() is not None

    async def add_claim(self, customer_id: uuid.UUID, claim: IdentityClaim) -> None:
        """Keep an unverified claim; it is shown but never used to stitch."""
        await self._conn.execute(_ADD_CLAIM, _identity_params(customer_id, claim))


class Conversations:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def thread_parent(
        self, customer_id: uuid.UUID, message_ids: Sequence[str]
    ) -> uuid.UUID | None:
        """The conversation of the newest stored email among `message_ids`."""
        params = {"customer_id": customer_id, "ids": list(message_ids)}
        found: uuid.UUID | None = (
            await self._conn.execute(_THREAD_PARENT, params)
        ).scalar()
        return found

    async def close_others(
        self, customer_id: uuid.UUID, keep: uuid.UUID, now: datetime, reason: str
    ) -> None:
        params = {
            "customer_id": customer_id,
            "keep": keep,
            "now": now,
            "reason": reason,
        }
        await self._conn.execute(_CLOSE_OTHERS, params)

    async def reopen(self, conversation_id: uuid.UUID) -> None:
        await self._conn.execute(_REOPEN, {"id": conversation_id})

    async def current_open(
        self, customer_id: uuid.UUID
    ) -> tuple[uuid.UUID, datetime] | None:
        row = (
            await self._conn.execute(_OPEN_CONVERSATION, {"customer_id": customer_id})
        ).first()
        return (row.id, row.last_message_at) if row else None

    async def close(
        self, conversation_id: uuid.UUID, at: datetime, reason: str
    ) -> None:
        params = {"id": conversation_id, "closed_at": at, "reason": reason}
        await self._conn.execute(_CLOSE, params)

    async def open(self, customer_id: uuid.UUID, now: datetime) -> uuid.UUID:
        new_id = uuid.uuid4()
        params = {"id": new_id, "customer_id": customer_id, "now": now}
        await self._conn.execute(_OPEN, params)
        return new_id


class Messages:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def exists(self, provider: str, provider_message_id: str) -> bool:
        params = {"provider": provider, "pmid": provider_message_id}
        return (await self._conn.execute(_MESSAGE_EXISTS, params)).first() is not None

    async def insert(
        self,
        msg: InboundMessage,
        *,
        customer_id: uuid.UUID,
        conversation_id: uuid.UUID,
        sent_at: datetime,
        received_at: datetime,
    ) -> uuid.UUID | None:
        """Insert and count the message in its conversation; None on a duplicate."""
        params = _message_params(msg, customer_id, conversation_id)
        params |= {"id": uuid.uuid4(), "sent_at": sent_at, "received_at": received_at}
        stored: uuid.UUID | None = (
            await self._conn.execute(_INSERT_MESSAGE, params)
        ).scalar()
        return stored

    async def add_attachments(
        self, message_id: uuid.UUID, attachments: Sequence[StoredAttachment]
    ) -> None:
        rows = [_attachment_params(message_id, i, a) for i, a in enumerate(attachments)]
        if rows:
            await self._conn.execute(_INSERT_ATTACHMENT, rows)


class Nonces:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def record(self, connector: str, nonce: str) -> bool:
        """True the first time a nonce is seen; False for a replay."""
        params = {"connector": connector, "nonce": nonce}
        return (await self._conn.execute(_RECORD_NONCE, params)).first() is not None


def _identity_params(customer_id: uuid.UUID, claim: IdentityClaim) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "kind": claim.kind.value,
        "value": claim.value,
        "name": claim.name,
    }


def _message_params(
    msg: InboundMessage, customer_id: uuid.UUID, conversation_id: uuid.UUID
) -> dict[str, object]:
    email = msg.email
    return {
        "customer_id": customer_id,
        "conversation_id": conversation_id,
        "channel": msg.channel.value,
        "provider": msg.provider,
        "provider_message_id": msg.provider_message_id,
        "content_type": msg.content_type,
        "sender_kind": msg.sender.kind.value,
        "sender_value": msg.sender.value,
        "sender_name": msg.sender.name,
        "recipient": msg.recipient,
        "subject": msg.subject,
        "text": msg.text,
        "full_text": msg.full_text if msg.full_text is not None else msg.text,
        "locale": msg.locale,
        "email_message_id": email.message_id if email else None,
        "in_reply_to": email.in_reply_to[0] if email and email.in_reply_to else None,
        "reference_ids": list(email.references) if email else [],
    }


def _attachment_params(
    message_id: uuid.UUID, position: int, stored: StoredAttachment
) -> dict[str, object]:
    a = stored.source
    return {
        "id": uuid.uuid4(),
        "message_id": message_id,
        "position": position,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size
        if a.size is not None
        else (len(a.content) if a.content else None),
        "sha256": stored.sha256,
        "url": a.url,
        "provider_media_id": a.provider_media_id,
    }
