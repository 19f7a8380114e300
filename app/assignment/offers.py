"""An agent's answer to an offer: accept (it is theirs) or decline (the next agent)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from app.assignment.effects import Effects, Where
from app.assignment.errors import OfferNotFound, OfferNotPending
from app.assignment.moves import requeue
from app.db import Database
from app.events import EventConfig
from app.metrics import Metrics
from app.repositories.holding import Holding
from app.repositories.offers import OfferRow, Offers


async def _pending(conn: asyncpg.Connection, offer_id: uuid.UUID) -> OfferRow:
    offer = await Offers(conn).lock(offer_id)
    if offer is None:
        raise OfferNotFound(f"offer {offer_id} does not exist")
    if offer.status != "pending":
        raise OfferNotPending(f"offer {offer_id} is {offer.status}")
    return offer


def _where(offer: OfferRow, customer_id: uuid.UUID) -> Where:
    return Where(
        conversation_id=offer.conversation_id,
        customer_id=customer_id,
        queue=offer.queue,
        channel=offer.channel,
        priority=offer.priority,
    )


async def accept(
    db: Database, offer_id: uuid.UUID, config: EventConfig, metrics: Metrics
) -> OfferRow:
    """Assign the conversation to the offer's agent; 409 once withdrawn or expired."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        offer = await _pending(conn, offer_id)
        if offer.expires_at <= now:
            raise OfferNotPending(f"offer {offer_id} expired at {offer.expires_at}")
        holding = Holding(conn)
        state = await holding.state(offer.conversation_id)
        customer_id = await holding.accept(offer.conversation_id, offer.agent_id, now)
        if customer_id is None or state is None:
            raise OfferNotPending(f"offer {offer_id}: the conversation moved on")
        await Offers(conn).answer(offer_id, "accepted", now, None)
        await holding.remember_agent(customer_id, offer.agent_id)
        fx = Effects(config)
        fx.step(
            "accepted",
            _where(offer, customer_id),
            at=now,
            reason="accepted by the agent",
            agent_id=offer.agent_id,
            offer_id=offer.id,
            push="assigned",
        )
        await fx.flush(conn)
    metrics.offers.labels(outcome="accepted").inc()
    if state.waiting_since is not None:
        waited = (now - state.waiting_since).total_seconds()
        metrics.time_to_assignment.labels(queue=offer.queue).observe(waited)
    return replace(offer, status="accepted")


async def decline(
    db: Database,
    offer_id: uuid.UUID,
    reason: str | None,
    config: EventConfig,
    metrics: Metrics,
) -> OfferRow:
    """The conversation goes to the next eligible agent, never back to this one."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        offer = await _pending(conn, offer_id)
        await Offers(conn).answer(offer_id, "declined", now, reason)
        state = await Holding(conn).state(offer.conversation_id)
        assert state is not None
        fx = Effects(config)
        fx.step(
            "declined",
            _where(offer, state.customer_id),
            at=now,
            reason=reason or "declined by the agent",
            agent_id=offer.agent_id,
            offer_id=offer.id,
        )
        if state.holder_agent_id == offer.agent_id and state.assignment == "offered":
            await requeue(
                conn, fx, [offer.conversation_id], at=now, reason="offer declined"
            )
        fx.wake = True
        await fx.flush(conn)
    metrics.offers.labels(outcome="declined").inc()
    return replace(offer, status="declined")
