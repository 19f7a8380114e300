"""The unit of work for one inbound message: identity, conversation, message, decision
and its event, in one transaction; idempotent on the provider's message id. An edit
(`edited_at` set) revises the stored message instead, or is stored as new if none is."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg

from app.assignment.escalation import after_decision
from app.attachment_store import AttachmentStore
from app.db import Database
from app.errors import Problem
from app.events import DecisionContext, EventConfig, routing_decision
from app.ingest.placement import place
from app.ingest.stitching import resolve_customer
from app.repositories.conversations import Conversations
from app.repositories.customers import LockedCustomer
from app.repositories.messages import Messages, NewMessage, Revision, StoredAttachment
from app.repositories.nonces import Nonces
from app.rules_state import RulesHolder
from app.sla.csat import take_rating
from app.sla.timers import Inbound, after_inbound
from connectors.identity import canonical
from connectors.model import InboundMessage
from routing.engine import decide
from routing.language import LanguageDetector
from routing.model import CustomerFacts, Decision, MessageFacts

FUTURE_TOLERANCE = timedelta(minutes=5)
# Rules read the first 64 Ki characters: keyword and regex conditions over a 9 MiB
# email held the event loop for over a second (the stored text stays whole).
ROUTING_TEXT_CHARS = 64 * 1024
_RETRYABLE = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UniqueViolationError,
)  # the last: a lost first-contact race
_ATTEMPTS = 3


class Outcome(StrEnum):
    stored = "stored"
    duplicate = "duplicate"
    rated = "rated"  # a survey answer: recorded as the conversation's CSAT


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    message_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    decision: Decision | None = None


class ReplayRejected(Problem):
    """A single-use value (Mailgun token) arrived a second time for a new message."""

    status, title, slug = 401, "Webhook signature rejected", "signature-rejected"


class _Duplicate(Exception):
    """The message row already exists: roll the whole unit back."""


class _LostEditRace(Exception):
    """An edit's message was stored concurrently: roll back, retry as an edit of it."""


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
        db: Database,
        store: AttachmentStore,
        policy: IngestPolicy,
        routing: Routing,
    ) -> None:
        self._db = db
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
        facts = MessageFacts(
            channel=msg.channel.value,
            text=msg.text[:ROUTING_TEXT_CHARS],
            language=self._routing.detector.detect(msg.text, msg.locale),
            received_at=received_at,
        )
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._attempt(msg, facts, attachments, connector, nonce)
            except _Duplicate:
                return IngestResult(Outcome.duplicate)
            except (*_RETRYABLE, _LostEditRace):
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
        edited_at = (
            None if msg.edited_at is None else effective_sent_at(msg.edited_at, now)
        )
        async with self._db.transaction() as conn:
            edited = None if edited_at is None else await _edit(conn, msg, edited_at)
            if edited is not None:
                return edited
            if nonce is not None:
                await _check_nonce(conn, msg, connector, nonce)
            customer = await resolve_customer(conn, msg, now, self._routing.events)
            if customer.conversation is None and edited_at is None:
                # A rating answering the follow-up survey opens no conversation.
                rated = await take_rating(
                    conn, self._routing.events, customer.id, msg, now
                )
                if rated is not None:
                    return IngestResult(Outcome.rated, None, customer.id, rated)
            new = await self._place_and_decide(conn, customer, msg, facts)
            messages = Messages(conn)
            if not await messages.insert(new):
                # An edit must not be lost to its message's concurrent first delivery.
                raise _Duplicate if edited_at is None else _LostEditRace
            await messages.add_attachments(new.id, attachments)
            await after_decision(
                conn, self._routing.events, new.conversation_id, new.decision, now
            )
            inbound = Inbound(
                conversation_id=new.conversation_id,
                customer_id=customer.id,
                channel=facts.channel,
                tags=customer.tags,
                decision=new.decision,
                at=now,
            )
            await after_inbound(
                conn, self._routing.rules.rules, self._routing.events, inbound
            )
            if edited_at is not None:  # an edit of a message we never received
                await messages.mark_edited(new.id, edited_at)
        return IngestResult(
            Outcome.stored, new.id, customer.id, new.conversation_id, new.decision
        )

    async def _place_and_decide(
        self,
        conn: asyncpg.Connection,
        customer: LockedCustomer,
        msg: InboundMessage,
        facts: MessageFacts,
    ) -> NewMessage:
        now = facts.received_at
        idle = timedelta(hours=self._policy.idle_hours)
        placement = await place(Conversations(conn), customer, msg, now, idle)
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
        return NewMessage(
            message=msg,
            id=ctx.message_id,
            customer_id=customer.id,
            conversation_id=ctx.conversation_id,
            sent_at=effective_sent_at(msg.sent_at, now),
            received_at=now,
            decision=decision,
            decision_id=ctx.decision_id,
            event=routing_decision(self._routing.events, ctx, decision),
            opens=placement.routing is None,
        )


async def _edit(
    conn: asyncpg.Connection, msg: InboundMessage, edited_at: datetime
) -> IngestResult | None:
    """Apply a newer version of a stored message; None when it was never stored.

    The newest edit by `edited_at` wins: a redelivered edit, or one older than the
    text held (a late retry), changes nothing. The replaced text joins the history.
    """
    messages = Messages(conn)
    target = await messages.lock_for_edit(msg.provider, msg.provider_message_id)
    if target is None:
        return None
    if target.edited_at is not None and edited_at <= target.edited_at:
        raise _Duplicate
    full_text = msg.full_text if msg.full_text is not None else msg.text
    await messages.revise(
        target, Revision(text=msg.text, full_text=full_text, edited_at=edited_at)
    )
    # The same text again (Telegram also sends edits of fields we do not keep).
    outcome = Outcome.stored if msg.text != target.text else Outcome.duplicate
    return IngestResult(outcome, target.id, target.customer_id, target.conversation_id)


async def _check_nonce(
    conn: asyncpg.Connection, msg: InboundMessage, connector: str, nonce: str
) -> None:
    # A retried delivery of a stored message is a duplicate (200), not a replay.
    if await Messages(conn).exists(msg.provider, msg.provider_message_id):
        raise _Duplicate
    if not await Nonces(conn).record(connector, nonce):
        raise ReplayRejected(f"{connector} token was already used")
