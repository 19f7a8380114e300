"""CloudEvents 1.0 (structured JSON) for what omniroute publishes, as outbox rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from app.repositories.outbox import OutboxRow
from routing.model import Decision

ROUTING_DECISION_TYPE = "omniroute.routing.decision.v1"
CUSTOMER_MERGED_TYPE = "omniroute.customer.merged.v1"
MESSAGE_SENT_TYPE = "omniroute.message.sent.v1"
MESSAGE_STATUS_TYPE = "omniroute.message.status.v1"
AGENT_STATUS_TYPE = "omniroute.agent.status.v1"
SLA_WARNING_TYPE = "omniroute.sla.warning.v1"
SLA_BREACHED_TYPE = "omniroute.sla.breached.v1"
CSAT_RECEIVED_TYPE = "omniroute.csat.received.v1"
ASSIGNMENT_OUTCOMES = (
    "offered",
    "accepted",
    "declined",
    "timed_out",
    "withdrawn",
    "released",
    "transferred",
)
CONTENT_TYPE = "application/cloudevents+json"
_FORMAT = JSONFormat()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventConfig:
    source: str  # CloudEvents `source`, e.g. "https://omniroute.example.com"
    routing_topic: str = "omniroute.routing.decisions"
    customer_topic: str = "omniroute.customers"
    message_topic: str = "omniroute.messages"
    assignment_topic: str = "omniroute.assignments"
    agent_topic: str = "omniroute.agents"
    sla_topic: str = "omniroute.sla"
    csat_topic: str = "omniroute.csat"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundFacts:
    """An outbound message as its events describe it."""

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    provider: str
    agent_id: str | None
    provider_message_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionContext:
    """Ids and times around a decision that the pure engine does not know."""

    decision_id: uuid.UUID
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    decided_at: datetime


def _rfc3339(at: datetime) -> str:
    """UTC with a `Z`, the same spelling the CloudEvents SDK uses for `time`."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _envelope(
    config: EventConfig,
    event_id: uuid.UUID,
    kind: str,
    subject: str,
    at: datetime,
    data: dict[str, object],
) -> str:
    event = CloudEvent(
        attributes={
            "id": str(event_id),
            "source": config.source,
            "type": kind,
            "subject": subject,
            "time": at,
            "datacontenttype": "application/json",
        },
        data=data,
    )
    return _FORMAT.write(event).decode()


def routing_decision(
    config: EventConfig, ctx: DecisionContext, decision: Decision
) -> OutboxRow:
    """Keyed by customer so one customer's decisions stay in one partition, in order."""
    previous = (
        {"queue": decision.previous_queue, "priority": decision.previous_priority.value}
        if decision.previous_queue is not None
        and decision.previous_priority is not None
        else None
    )
    data: dict[str, object] = {
        "decision_id": str(ctx.decision_id),
        "message_id": str(ctx.message_id),
        "conversation_id": str(ctx.conversation_id),
        "customer_id": str(ctx.customer_id),
        "channel": ctx.channel,
        "queue": decision.queue,
        "priority": decision.priority.value,
        "skills": list(decision.skills),
        "language": decision.language,
        "rule_id": decision.rule_id,
        "reason": decision.reason,
        "new_conversation": decision.new_conversation,
        "changed": decision.changed,
        "previous": previous,
        "rules_version": decision.rules_version,
        "decided_at": _rfc3339(ctx.decided_at),
    }
    payload = _envelope(
        config,
        ctx.decision_id,
        ROUTING_DECISION_TYPE,
        str(ctx.conversation_id),
        ctx.decided_at,
        data,
    )
    return OutboxRow(
        topic=config.routing_topic,
        key=str(ctx.customer_id),
        event_id=ctx.decision_id,
        payload=payload,
    )


def customer_merged(
    config: EventConfig,
    survivor: uuid.UUID,
    merged: uuid.UUID,
    reason: str,
    at: datetime,
) -> OutboxRow:
    """Keyed by the survivor, so consumers can re-key what they hold for `merged`."""
    event_id = uuid.uuid4()
    data: dict[str, object] = {
        "merge_id": str(event_id),
        "surviving_customer_id": str(survivor),
        "merged_customer_id": str(merged),
        "reason": reason,
        "merged_at": _rfc3339(at),
    }
    payload = _envelope(config, event_id, CUSTOMER_MERGED_TYPE, str(survivor), at, data)
    return OutboxRow(
        topic=config.customer_topic,
        key=str(survivor),
        event_id=event_id,
        payload=payload,
    )


def message_sent(config: EventConfig, facts: OutboundFacts, at: datetime) -> OutboxRow:
    """The provider accepted an outbound message; keyed by customer, like decisions."""
    event_id = uuid.uuid4()
    data: dict[str, object] = {
        **_outbound_data(facts),
        "sent_at": _rfc3339(at),
    }
    payload = _envelope(
        config, event_id, MESSAGE_SENT_TYPE, str(facts.message_id), at, data
    )
    return OutboxRow(
        topic=config.message_topic,
        key=str(facts.customer_id),
        event_id=event_id,
        payload=payload,
    )


def message_status(
    config: EventConfig,
    facts: OutboundFacts,
    *,
    status: str,
    previous: str,
    at: datetime,
    error_code: str | None = None,
    error: str | None = None,
) -> OutboxRow:
    """One delivery-status transition of an outbound message."""
    event_id = uuid.uuid4()
    data: dict[str, object] = {
        **_outbound_data(facts),
        "status": status,
        "previous_status": previous,
        "error": {"code": error_code, "message": error}
        if error_code is not None or error is not None
        else None,
        "at": _rfc3339(at),
    }
    payload = _envelope(
        config, event_id, MESSAGE_STATUS_TYPE, str(facts.message_id), at, data
    )
    return OutboxRow(
        topic=config.message_topic,
        key=str(facts.customer_id),
        event_id=event_id,
        payload=payload,
    )


def _outbound_data(facts: OutboundFacts) -> dict[str, object]:
    return {
        "message_id": str(facts.message_id),
        "conversation_id": str(facts.conversation_id),
        "customer_id": str(facts.customer_id),
        "channel": facts.channel,
        "provider": facts.provider,
        "agent_id": facts.agent_id,
        "provider_message_id": facts.provider_message_id,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentFacts:
    """One step of a conversation's way to an agent, as its event describes it."""

    outcome: str  # one of ASSIGNMENT_OUTCOMES
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    agent_id: str | None
    offer_id: uuid.UUID | None
    queue: str | None
    channel: str | None
    priority: str | None
    reason: str
    at: datetime


def assignment_type(outcome: str) -> str:
    return f"omniroute.assignment.{outcome}.v1"


def assignment(config: EventConfig, facts: AssignmentFacts) -> OutboxRow:
    """Keyed by customer, like decisions, so a conversation's story stays in order."""
    event_id = uuid.uuid4()
    data: dict[str, object] = {
        "conversation_id": str(facts.conversation_id),
        "customer_id": str(facts.customer_id),
        "agent_id": facts.agent_id,
        "offer_id": str(facts.offer_id) if facts.offer_id is not None else None,
        "queue": facts.queue,
        "channel": facts.channel,
        "priority": facts.priority,
        "reason": facts.reason,
        "at": _rfc3339(facts.at),
    }
    kind = assignment_type(facts.outcome)
    subject = str(facts.conversation_id)
    payload = _envelope(config, event_id, kind, subject, facts.at, data)
    return OutboxRow(
        topic=config.assignment_topic,
        key=str(facts.customer_id),
        event_id=event_id,
        payload=payload,
    )


def agent_status(
    config: EventConfig, agent_id: str, status: str, previous: str | None, at: datetime
) -> OutboxRow:
    """Keyed by agent: one agent's presence changes stay in order."""
    event_id = uuid.uuid4()
    data: dict[str, object] = {
        "agent_id": agent_id,
        "status": status,
        "previous_status": previous,
        "at": _rfc3339(at),
    }
    payload = _envelope(config, event_id, AGENT_STATUS_TYPE, agent_id, at, data)
    return OutboxRow(
        topic=config.agent_topic, key=agent_id, event_id=event_id, payload=payload
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaFacts:
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    policy_id: str
    metric: str
    due_at: datetime | None  # None: the opening hours never give the time
    target_seconds: int
    business_hours: bool


def sla_event(
    config: EventConfig, kind: str, facts: SlaFacts, at: datetime
) -> OutboxRow:
    """A warning or a breach, keyed by customer; `at` is the moment it marks."""
    event_id = uuid.uuid4()
    data: dict[str, object] = {
        "conversation_id": str(facts.conversation_id),
        "customer_id": str(facts.customer_id),
        "policy_id": facts.policy_id,
        "metric": facts.metric,
        "due_at": _rfc3339(facts.due_at) if facts.due_at is not None else None,
        "target_seconds": facts.target_seconds,
        "business_hours": facts.business_hours,
    }
    subject = str(facts.conversation_id)
    payload = _envelope(config, event_id, kind, subject, at, data)
    return OutboxRow(
        topic=config.sla_topic,
        key=str(facts.customer_id),
        event_id=event_id,
        payload=payload,
    )


def csat_received(
    config: EventConfig,
    *,
    conversation_id: uuid.UUID,
    customer_id: uuid.UUID,
    score: int,
    comment: str | None,
    channel: str,
    at: datetime,
) -> OutboxRow:
    """The customer's rating of a closed conversation, keyed by customer."""
    event_id = uuid.uuid4()
    data: dict[str, object] = {
        "conversation_id": str(conversation_id),
        "customer_id": str(customer_id),
        "score": score,
        "comment": comment,
        "channel": channel,
        "at": _rfc3339(at),
    }
    payload = _envelope(
        config, event_id, CSAT_RECEIVED_TYPE, str(conversation_id), at, data
    )
    return OutboxRow(
        topic=config.csat_topic,
        key=str(customer_id),
        event_id=event_id,
        payload=payload,
    )
