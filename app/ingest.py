"""The unit of work for one inbound message: identity, conversation, message, together."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.attachment_store import AttachmentStore
from app.db import driver_transaction
from app.events import DecisionContext, EventConfig, routing_decision
from app.merging import merge_customers
from app.repositories import (
    Conversations,
    Customers,
    LockedCustomer,
    Messages,
    Nonces,
    StoredAttachment,
)
from app.rules_state import RulesHolder
from connectors.identity import canonical
from connectors.model import IdentityClaim, InboundMessage
from routing.engine import decide
from routing.language import LanguageDetector
from routing.model import ConversationState, CustomerFacts, Decision, MessageFacts

FUTURE_TOLERANCE = timedelta(minutes=5)
_RETRYABLE = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UniqueViolationError,
)  # the last: a lost first-contact race
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
    decision: Decision | None = None


class ReplayRejected(Exception):
    """A single-use value (Mailgun token) arrived a second time for a new message."""


class _Duplicate(Exception):
    """The message row already exists: roll the whole unit back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestPolicy:
    default_region: str = "US"
    idle_hours: int = 24


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    """What deciding needs besides the message: rules, language detector, event names."""

    rules: RulesHolder
    detector: LanguageDetector
    events: EventConfig


@dataclass(frozen=True, slots=True)
class _Placement:
    conversation_id: uuid.UUID
    routing: ConversationState | None  # None: the message opens (or reopens) it


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
        self,
        engine: AsyncEngine,
        store: AttachmentStore,
        policy: IngestPolicy,
        routing: Routing,
    ) -> None:
        self._engine = engine
        self._store = store
        self._policy = policy
        self._routing = routing

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
        attachments = await self._store_bytes(msg)
        language = self._routing.detector.detect(msg.text, msg.locale)
        facts = MessageFacts(
            channel=msg.channel.value,
            text=msg.text,
            language=language,
            received_at=received_at,
        )
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._attempt(msg, facts, attachments, connector, nonce)
            except _Duplicate:
                return IngestResult(Outcome.duplicate)
            except _RETRYABLE:
                if attempt == _ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _store_bytes(self, msg: InboundMessage) -> list[StoredAttachment]:
        # Content-addressed, so a rolled-back or retried unit leaves nothing wrong behind.
        if not any(a.content for a in msg.attachments):
            return [StoredAttachment(a, None) for a in msg.attachments]
        return await asyncio.to_thread(
            lambda: [
                StoredAttachment(a, self._store.put(a.content) if a.content else None)
                for a in msg.attachments
            ]
        )

    async def _attempt(
        self,
        msg: InboundMessage,
        facts: MessageFacts,
        attachments: list[StoredAttachment],
        connector: str,
        nonce: str | None,
    ) -> IngestResult:
        now = facts.received_at
        async with driver_transaction(self._engine) as conn:
            if nonce is not None:
                await _check_nonce(conn, msg, connector, nonce)
            customer = await _resolve_customer(conn, msg, now, self._routing.events)
            placement = await self._conversation_for(conn, customer, msg, now)
            decision = decide(
                facts,
                CustomerFacts(tags=customer.tags),
                placement.routing,
                self._routing.rules.rules,
                now,
            )
            ctx = DecisionContext(
                decision_id=uuid.uuid4(),
                message_id=uuid.uuid4(),
                conversation_id=placement.conversation_id,
                customer_id=customer.id,
                channel=facts.channel,
                decided_at=now,
            )
            messages = Messages(conn)
            if not await messages.insert(
                msg,
                message_id=ctx.message_id,
                customer_id=customer.id,
                conversation_id=ctx.conversation_id,
                sent_at=effective_sent_at(msg.sent_at, now),
                received_at=now,
                decision=decision,
                decision_id=ctx.decision_id,
                event=routing_decision(self._routing.events, ctx, decision),
            ):
                raise _Duplicate
            await messages.add_attachments(ctx.message_id, attachments)
        return IngestResult(
            Outcome.stored, ctx.message_id, customer.id, ctx.conversation_id, decision
        )

    async def _conversation_for(
        self,
        conn: asyncpg.Connection,
        customer: LockedCustomer,
        msg: InboundMessage,
        now: datetime,
    ) -> _Placement:
        """Email thread first, then the open conversation unless idle, else a new one."""
        conversations = Conversations(conn)
        current = customer.conversation
        parent = await _thread_parent(conversations, customer.id, msg)
        if parent is not None:
            if current is not None and current.id == parent:
                return _Placement(parent, current.routing)
            await conversations.close_others(customer.id, parent, now, "superseded")
            await conversations.reopen(parent)
            return _Placement(parent, None)  # reopened: routed like a new conversation
        if current is not None:
            idle = timedelta(hours=self._policy.idle_hours)
            if current.last_message_at + idle >= now:
                return _Placement(current.id, current.routing)
            await conversations.close(
                current.id, current.last_message_at + idle, "idle"
            )
        return _Placement(await conversations.open(customer.id, now), None)


async def _check_nonce(
    conn: asyncpg.Connection, msg: InboundMessage, connector: str, nonce: str
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
    conn: asyncpg.Connection, msg: InboundMessage, now: datetime, events: EventConfig
) -> LockedCustomer:
    customers = Customers(conn)
    customer = await _find_or_create(customers, msg.sender)
    for claim in msg.linked_identities:
        customer = await _link(conn, customers, customer, claim, now, events)
    return customer


async def _find_or_create(customers: Customers, claim: IdentityClaim) -> LockedCustomer:
    """Atomic first contact: concurrent twins end up on the one customer that won."""
    while True:
        found = await customers.lock_by_identity(claim)
        if found is not None:
            return found
        created = await customers.create_with_identity(claim)
        if created is not None:
            return created


async def _link(
    conn: asyncpg.Connection,
    customers: Customers,
    customer: LockedCustomer,
    claim: IdentityClaim,
    now: datetime,
    events: EventConfig,
) -> LockedCustomer:
    """Attach a linked identity; a verified one owned elsewhere merges the two customers."""
    if not claim.verified:
        await customers.add_claim(customer.id, claim)
        return customer
    if await customers.add_verified(customer.id, claim):
        return customer
    owner_id = await customers.verified_owner(claim)
    if owner_id is None or owner_id == customer.id:
        return customer
    owner = await customers.lock(owner_id)
    if owner.id == customer.id:
        return customer
    reason = f"verified chat visitor claimed {claim.kind.value} {claim.value}"
    # The customer that already holds the verified identity survives.
    await merge_customers(conn, owner.id, customer.id, reason, now, events)
    return await customers.lock(owner.id)  # re-read: the merge may close a conversation
