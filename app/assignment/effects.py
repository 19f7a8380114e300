"""What one assignment transaction announces: log records, desktop pushes, Kafka events.

Collected while the use case decides, written together at the end of its transaction
(`flush`), so every step is explained, pushed and published exactly when it commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from app.events import AssignmentFacts, EventConfig, assignment
from app.repositories.agent_events import AgentEvent, AgentEvents
from app.repositories.assignment_log import AssignmentLog, AssignmentRecord
from app.repositories.holding import Holding
from app.repositories.offers import OfferRow
from app.repositories.outbox import Outbox, OutboxRow


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def offer_json(offer: OfferRow, status: str | None = None) -> dict[str, object]:
    """The offer as desktops see it (the contract's field names)."""
    return {
        "id": str(offer.id),
        "conversation_id": str(offer.conversation_id),
        "agent_id": offer.agent_id,
        "queue": offer.queue,
        "channel": offer.channel,
        "priority": offer.priority,
        "status": status or offer.status,
        "offered_at": iso(offer.offered_at),
        "expires_at": iso(offer.expires_at),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """The conversation a step is about."""

    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    queue: str | None
    channel: str | None
    priority: str | None


@dataclass(slots=True)
class Effects:
    config: EventConfig
    records: list[AssignmentRecord] = field(default_factory=list)
    pushes: list[AgentEvent] = field(default_factory=list)
    events: list[OutboxRow] = field(default_factory=list)
    wake: bool = False  # capacity freed or a conversation waits: run the scheduler

    def step(
        self,
        outcome: str,
        where: Where,
        *,
        at: datetime,
        reason: str,
        agent_id: str | None,
        offer_id: uuid.UUID | None = None,
        record: AssignmentRecord | None = None,
        push: str | None = None,
        push_data: dict[str, object] | None = None,
        publish: str | None = None,
    ) -> None:
        """Log `outcome`, push `push` to the agent and publish `publish` (default:
        the outcome; "" publishes nothing)."""
        self.records.append(
            record
            or AssignmentRecord(
                conversation_id=where.conversation_id,
                at=at,
                outcome=outcome,
                reason=reason,
                agent_id=agent_id,
                offer_id=offer_id,
            )
        )
        if push is not None and agent_id is not None:
            data: dict[str, object] = {
                "conversation_id": str(where.conversation_id),
                "reason": reason,
                **(push_data or {}),
            }
            self.pushes.append(
                AgentEvent(
                    agent_id=agent_id,
                    kind=push,
                    conversation_id=where.conversation_id,
                    data=data,
                )
            )
        kind = outcome if publish is None else publish
        if kind:
            facts = AssignmentFacts(
                outcome=kind,
                conversation_id=where.conversation_id,
                customer_id=where.customer_id,
                agent_id=agent_id,
                offer_id=offer_id,
                queue=where.queue,
                channel=where.channel,
                priority=where.priority,
                reason=reason,
                at=at,
            )
            self.events.append(assignment(self.config, facts))

    async def flush(self, conn: asyncpg.Connection) -> None:
        await AssignmentLog(conn).add_many(self.records)
        await AgentEvents(conn).add_many(self.pushes)
        await Outbox(conn).add_many(self.events)
        if self.wake:
            await Holding(conn).wake_scheduler()
