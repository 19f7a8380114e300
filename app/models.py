"""Tables. The hot ingest path uses these through SQLAlchemy Core; the ORM serves cold paths."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        }
    )
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    attributes: Mapped[dict[str, object]] = mapped_column(
        JSONB, server_default=sql("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set when this customer was merged away; its URLs redirect to the survivor.
    merged_into: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id"), index=True
    )
    # Who last held one of its conversations, for `prefer_last_agent`.
    last_agent_id: Mapped[str | None] = mapped_column(Text)


class CustomerIdentity(Base):
    """A verified (kind, value) is unique system-wide; unverified claims only per customer."""

    __tablename__ = "identities"
    __table_args__ = (
        Index(
            "uq_identities_verified_kind_value",
            "kind",
            "value",
            unique=True,
            postgresql_where=sql("verified"),
        ),
        Index(
            "uq_identities_claim_customer_kind_value",
            "customer_id",
            "kind",
            "value",
            unique=True,
            postgresql_where=sql("NOT verified"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    verified: Mapped[bool]
    name_hint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CustomerMerge(Base):
    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    survivor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id"), index=True
    )
    merged_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint(
            "assignment IN ('none', 'waiting', 'offered', 'assigned')",
            name="assignment",
        ),
        Index(
            "ix_conversations_waiting",
            "waiting_since",
            "id",
            postgresql_where=sql("assignment = 'waiting' AND status = 'open'"),
        ),
        Index(
            "ix_conversations_holder_agent_id",
            "holder_agent_id",
            postgresql_where=sql("holder_agent_id IS NOT NULL"),
        ),
        CheckConstraint(
            "follow_up_status IN ('scheduled', 'sent', 'skipped')",
            name="follow_up_status",
        ),
        CheckConstraint("csat_score BETWEEN 1 AND 5", name="csat_score"),
        Index("ix_conversations_opened_at", "opened_at"),
        Index("ix_conversations_customer_id_opened_at", "customer_id", "opened_at"),
        Index(
            "ix_conversations_unresolved_closed",
            "closed_at",
            postgresql_where=sql("status = 'closed' AND resolution_seconds IS NULL"),
        ),
        Index(
            "ix_conversations_follow_up_due_at",
            "follow_up_due_at",
            postgresql_where=sql("follow_up_status = 'scheduled'"),
        ),
        Index(
            "ix_conversations_survey_customer",
            "customer_id",
            "follow_up_sent_at",
            postgresql_where=sql("follow_up_status = 'sent' AND csat_score IS NULL"),
        ),
        # At most one open conversation per customer, enforced by the database.
        Index(
            "uq_conversations_open_customer_id",
            "customer_id",
            unique=True,
            postgresql_where=sql("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    channels: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(Text)
    last_message_at: Mapped[datetime]
    message_count: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    # Current routing, set by each decision (null only before the first one).
    queue: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(String(16))
    skills: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    # The first outbound message with an agent after the conversation opened.
    first_response_at: Mapped[datetime | None]
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    # none (closed or never routed), waiting (in its queue's line), offered (a pending
    # offer to holder_agent_id), assigned (held by holder_agent_id).
    assignment: Mapped[str] = mapped_column(String(16), server_default="none")
    holder_agent_id: Mapped[str | None] = mapped_column(Text)
    waiting_since: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    # The channel its capacity counts on: the opening message's, fixed while held.
    channel: Mapped[str | None] = mapped_column(String(16))
    # Waiting for the customer: SLA timers paused (the stored status stays open).
    pending_since: Mapped[datetime | None]
    sla_policy_id: Mapped[str | None] = mapped_column(Text)
    # KPI facts: the oldest unanswered customer message, reopens, resolution time.
    awaiting_since: Mapped[datetime | None]
    reopened_count: Mapped[int] = mapped_column(Integer, server_default="0")
    resolution_seconds: Mapped[float | None] = mapped_column(Float)
    resolution_business_seconds: Mapped[float | None] = mapped_column(Float)
    # The follow-up survey after the close, and the customer's rating.
    follow_up_status: Mapped[str | None] = mapped_column(String(16))
    follow_up_reason: Mapped[str | None] = mapped_column(Text)
    follow_up_due_at: Mapped[datetime | None]
    follow_up_sent_at: Mapped[datetime | None]
    csat_score: Mapped[int | None] = mapped_column(SmallInteger)
    csat_comment: Mapped[str | None] = mapped_column(Text)
    csat_at: Mapped[datetime | None]
    csat_message_id: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id"),
        # The timeline: newest first by (sent_at, id) per customer, keyset-paginated.
        Index("ix_messages_timeline", "customer_id", "sent_at", "id"),
        Index(
            "ix_messages_email_message_id",
            "email_message_id",
            postgresql_where=sql("email_message_id IS NOT NULL"),
        ),
        Index(
            "uq_messages_idempotency_key",
            "idempotency_key",
            unique=True,
            postgresql_where=sql("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8), server_default="inbound")
    provider: Mapped[str] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(Text)  # outbound: once sent
    content_type: Mapped[str] = mapped_column(String(32), server_default="text")
    sender_kind: Mapped[str] = mapped_column(String(32))
    sender_value: Mapped[str] = mapped_column(Text)
    sender_name: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    full_text: Mapped[str] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(35))
    email_message_id: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    reference_ids: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    sent_at: Mapped[datetime]
    received_at: Mapped[datetime]
    # Texts replaced by edits, oldest first: [{"text", "edited_at"}], `edited_at` being
    # when that text was replaced (ISO 8601, UTC).
    edit_history: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, server_default=sql("'[]'::jsonb")
    )
    edited_at: Mapped[datetime | None]  # the edit that wrote `text`; None: as sent
    # Outbound only: delivery status and its transitions, the agent, the failure.
    status: Mapped[str | None] = mapped_column(String(16))
    status_history: Mapped[list[dict[str, object]]] = mapped_column(
        JSONB, server_default=sql("'[]'::jsonb")
    )
    agent_id: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(String(64))


class Dispatch(Base):
    """The send outbox: one row per outbound message, claimed by the active dispatcher."""

    __tablename__ = "dispatches"
    __table_args__ = (
        Index(
            "ix_dispatches_pending",
            "provider",
            "not_before",
            "id",
            postgresql_where=sql("state = 'pending'"),
        ),
        Index("ix_dispatches_claimed", "id", postgresql_where=sql("state = 'claimed'")),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    delivery: Mapped[dict[str, object]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    not_before: Mapped[datetime] = mapped_column(server_default=func.now())
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))  # bytes stored by us
    url: Mapped[str | None] = mapped_column(Text)  # provider-hosted media
    provider_media_id: Mapped[str | None] = mapped_column(Text)


class WebhookNonce(Base):
    """Single-use values (Mailgun tokens), recorded in the message's own transaction."""

    __tablename__ = "webhook_nonces"

    connector: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(Text, primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RoutingDecision(Base):
    """Exactly one per inbound message: where it went and why."""

    __tablename__ = "decisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id"), unique=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id"), index=True
    )
    customer_id: Mapped[uuid.UUID]  # at decision time; merges do not rewrite history
    queue: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    skills: Mapped[list[str]] = mapped_column(ARRAY(Text))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    language: Mapped[str | None] = mapped_column(String(8))
    rule_id: Mapped[str | None] = mapped_column(Text)
    matched_conditions: Mapped[list[str]] = mapped_column(ARRAY(Text))
    reason: Mapped[str] = mapped_column(Text)
    rules_version: Mapped[str] = mapped_column(String(32))
    new_conversation: Mapped[bool]
    changed: Mapped[bool]
    escalated: Mapped[bool]
    previous_queue: Mapped[str | None] = mapped_column(Text)
    previous_priority: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime]


class OutboxEvent(Base):
    """Written in the same transaction as what it announces; the relay publishes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=sql("published_at IS NULL")),
        Index(
            "ix_outbox_published_at",
            "published_at",
            postgresql_where=sql("published_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    event_id: Mapped[uuid.UUID]
    payload: Mapped[dict[str, object]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    published_at: Mapped[datetime | None]


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint("status IN ('available', 'away', 'offline')", name="status"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="offline")
    queues: Mapped[list[str] | None] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    skills: Mapped[list[str] | None] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    languages: Mapped[list[str] | None] = mapped_column(
        ARRAY(Text), server_default=sql("'{}'::text[]")
    )
    capacity: Mapped[dict[str, object]] = mapped_column(JSONB)
    status_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set while offline: its conversations return to their queues after the grace.
    offline_since: Mapped[datetime | None]
    last_assigned_at: Mapped[datetime | None]
    # The last agent_events.seq given out, bumped under the agent's row lock.
    event_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'timed_out', 'withdrawn')",
            name="status",
        ),
        # Never two pending offers for one conversation, whatever replica made them.
        Index(
            "uq_offers_pending_conversation_id",
            "conversation_id",
            unique=True,
            postgresql_where=sql("status = 'pending'"),
        ),
        Index(
            "ix_offers_pending_expires_at",
            "expires_at",
            postgresql_where=sql("status = 'pending'"),
        ),
        Index("ix_offers_agent_id", "agent_id", "offered_at"),
        Index("ix_offers_conversation_id", "conversation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    agent_id: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    offered_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)


class AssignmentLogEntry(Base):
    """Every offer, answer and move of a conversation between agents, with its why."""

    __tablename__ = "assignment_log"
    __table_args__ = (
        Index("ix_assignment_log_conversation_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID]
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(Text)
    offer_id: Mapped[uuid.UUID | None]
    policy: Mapped[str | None] = mapped_column(String(16))
    considered: Mapped[int | None] = mapped_column(Integer)
    eligible: Mapped[int | None] = mapped_column(Integer)
    excluded: Mapped[dict[str, object]] = mapped_column(
        JSONB, server_default=sql("'{}'::jsonb")
    )
    agent_load: Mapped[int | None] = mapped_column(Integer)
    agent_capacity: Mapped[int | None] = mapped_column(Integer)
    agent_idle_seconds: Mapped[float | None] = mapped_column(Float)
    expansion_step: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class AgentEvent(Base):
    """An agent desktop's feed, kept an hour for Last-Event-ID resume."""

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_created_at", "created_at"),)

    agent_id: Mapped[str] = mapped_column(Text, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    conversation_id: Mapped[uuid.UUID]
    data: Mapped[dict[str, object]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SlaTimer(Base):
    """One SLA metric's timer for a conversation (routing.sla does the arithmetic)."""

    __tablename__ = "sla_timers"
    __table_args__ = (
        CheckConstraint(
            "metric IN ('first_response', 'next_response', 'resolution')",
            name="metric",
        ),
        Index(
            "ix_sla_timers_warn_due_at",
            "warn_due_at",
            postgresql_where=sql("warned_at IS NULL AND stopped_at IS NULL"),
        ),
        Index(
            "ix_sla_timers_due_at",
            "due_at",
            postgresql_where=sql("breach_published_at IS NULL AND stopped_at IS NULL"),
        ),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", name="fk_sla_timers_conversation"),
        primary_key=True,
    )
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[uuid.UUID]
    policy_id: Mapped[str] = mapped_column(Text)
    target_seconds: Mapped[int] = mapped_column(Integer)
    business_hours: Mapped[bool]
    warn_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime]
    counted_seconds: Mapped[float] = mapped_column(Float, server_default="0")
    running_since: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    warn_due_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    breach_published_at: Mapped[datetime | None]


class Response(Base):
    """An agent reply that answered the customer: how long they waited (KPIs)."""

    __tablename__ = "responses"
    __table_args__ = (
        CheckConstraint("kind IN ('first', 'next')", name="kind"),
        Index("ix_responses_conversation_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", name="fk_responses_conversation")
    )
    kind: Mapped[str] = mapped_column(String(8))
    awaited_since: Mapped[datetime]
    answered_at: Mapped[datetime]
    seconds: Mapped[float] = mapped_column(Float)
    business_seconds: Mapped[float | None] = mapped_column(Float)
    agent_id: Mapped[str] = mapped_column(Text)
    target_seconds: Mapped[int | None] = mapped_column(Integer)
    within_target: Mapped[bool | None]
