"""The unit of work for one inbound message: identity, conversation, message, together."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.attachment_store import AttachmentStore
from app.merging import merge_customers
from app.repositories import (
    Conversations,
    Customers,
    Messages,
    Nonces,
    StoredAttachment,
)
from connectors.identity import canonical
from connectors.model import IdentityClaim, InboundMessage

FUTURE_TOLERANCE = timedelta(minutes=5)
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}  # serialization, deadlock, lost race
_ATTEMPTS = 3


class Outcome(StrEnum):
    stored = "stored"
    duplicate = "duplicate"


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    message_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None


class ReplayRejected(Exception):
    """A single-use value (Mailgun token) arrived a second time for a new message."""


class _Duplicate(Exception):
    """The message row already exists: roll the whole unit back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestPolicy:
    default_region: str = "US"
    idle_hours: int = 24


def effective_sent_at(
    provider_time: datetime | None, received_at: datetime
) -> datetime:
    """The provider's time unless missing or more than 5 minutes in the future."""
    if provider_time is None or provider_time > received_at + FUTURE_TOLERANCE:
        return received_at
    return provider_time


def normalize(msg: InboundMessage, region: str) -> InboundMessage:
    """Canonical identity values, so one phone or address always stitches the same."""
    return replace(
        msg,
        sender=canonical(msg.sender, region),
        linked_identities=tuple(canonical(c, region) for c in msg.linked_identities),
    )


class Ingestor:
    def __init__(
        self, engine: AsyncEngine, store: AttachmentStore, policy: IngestPolicy
    ) -> None:
        self._engine = engine
        self._store = store
        self._policy = policy

    async def ingest(
        self,
        msg: InboundMessage,
        *,
        connector: str,
        received_at: datetime,
        nonce: str | None = None,
    ) -> IngestResult:
        """Store one message exactly once; raises on replay or database failure."""
        msg = normalize(msg, self._policy.default_region)
        attachments = await asyncio.to_thread(self._store_bytes, msg)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._attempt(
                    msg, attachments, connector, received_at, nonce
                )
            except _Duplicate:
                return IngestResult(Outcome.duplicate)
            except exc.DBAPIError as error:
                if attempt == _ATTEMPTS or _sqlstate(error) not in _RETRYABLE_SQLSTATES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_bytes(self, msg: InboundMessage) -> list[StoredAttachment]:
        # Content-addressed, so a rolled-back or retried unit leaves nothing wrong behind.
        return [
            StoredAttachment(a, self._store.put(a.content) if a.content else None)
            for a in msg.attachments
        ]

    async def _attempt(
        self,
        msg: InboundMessage,
        attachments: list[StoredAttachment],
        connector: str,
        received_at: datetime,
        nonce: str | None,
    ) -> IngestResult:
        async with self._engine.begin() as conn:
            if nonce is not None:
                await _check_nonce(conn, msg, connector, nonce)
            customer_id = await _resolve_customer(conn, msg, received_at)
            conversation_id = await self._conversation_for(
                conn, customer_id, msg, received_at
            )
            message_id = await Messages(conn).insert(
                msg,
                customer_id=customer_id,
                conversation_id=conversation_id,
                sent_at=effective_sent_at(msg.sent_at, received_at),
                received_at=received_at,
            )
            if message_id is None:
                raise _Duplicate
            await Messages(conn).add_attachments(message_id, attachments)
        return IngestResult(Outcome.stored, message_id, customer_id, conversation_id)

    async def _conversation_for(
        self,
        conn: AsyncConnection,
        customer_id: uuid.UUID,
        msg: InboundMessage,
        now: datetime,
    ) -> uuid.UUID:
        """Email thread first, then the open conversation unless idle, else a new one."""
        conversations = Conversations(conn)
        parent = await _thread_parent(conversations, customer_id, msg)
        if parent is not None:
            await conversations.close_others(customer_id, parent, now, "superseded")
            await conversations.reopen(parent)
            return parent
        current = await conversations.current_open(customer_id)
        if current is not None:
            conversation_id, last_message_at = current
            idle = timedelta(hours=self._policy.idle_hours)
            if last_message_at + idle >= now:
                return conversation_id
            await conversations.close(conversation_id, last_message_at + idle, "idle")
        return await conversations.open(customer_id, now)


async def _check_nonce(
    conn: AsyncConnection, msg: InboundMessage, connector: str, nonce: str
) -> None:
    # A retried delivery of a stored message is a duplicate (200), not a replay.
    if await Messages(conn).exists(msg.provider, msg.provider_message_id):
        raise _Duplicate
    if not await Nonces(conn).record(connector, nonce):
        raise ReplayRejected(f"{connector} token was already used")


async def _thread_parent(
    conversations: Conversations, customer_id: uuid.UUID, msg: InboundMessage
) -> uuid.UUID | None:
    if msg.email is None:
        return None
    ids = (*msg.email.in_reply_to, *msg.email.references)
    return await conversations.thread_parent(customer_id, ids) if ids else None


async def _resolve_customer(
    conn: AsyncConnection, msg: InboundMessage, now: datetime
) -> uuid.UUID:
    customers = Customers(conn)
    customer_id = await _find_or_create(customers, msg.sender)
    for claim in msg.linked_identities:
        customer_id = await _link(conn, customers, customer_id, claim, now)
    return customer_id


async def _find_or_create(customers: Customers, claim: IdentityClaim) -> uuid.UUID:
    """Atomic first contact: concurrent twins end up on the one customer that won."""
    while True:
        found = await customers.lock_by_identity(claim)
        if found is not None:
            return found
        created = await customers.create_with_identity(claim)
        if created is not None:
            return created


async def _link(
    conn: AsyncConnection,
    customers: Customers,
    customer_id: uuid.UUID,
    claim: IdentityClaim,
    now: datetime,
) -> uuid.UUID:
    """Attach a linked identity; a verified one owned elsewhere merges the two customers."""
    if not claim.verified:
        await customers.add_claim(customer_id, claim)
        return customer_id
    if await customers.add_verified(customer_id, claim):
        return customer_id
    owner = await customers.verified_owner(claim)
    if owner is None or owner == customer_id:
        return customer_id
    owner = await customers.lock(owner)
    if owner == customer_id:
        return customer_id
    reason = f"verified chat visitor claimed {claim.kind.value} {claim.value}"
    # The customer that already holds the verified identity survives.
    await merge_customers(conn, owner, customer_id, reason, now)
    return owner


def _sqlstate(error: exc.DBAPIError) -> str | None:
    orig = error.orig
    return getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
