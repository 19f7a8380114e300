"""What the scheduler does on time: offer deadlines, offline grace, closed
conversations letting go of their agents, stale offers, old desktop events."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app.assignment.agents import change_status
from app.assignment.effects import Effects, Where, offer_json
from app.assignment.moves import requeue
from app.db import Database
from app.events import EventConfig
from app.metrics import Metrics
from app.repositories.agent_events import AgentEvents
from app.repositories.agents import Agents
from app.repositories.holding import Holding
from app.repositories.offers import OfferRow, Offers
from app.rules_state import RulesHolder

EVENT_RETENTION = timedelta(hours=1)  # Last-Event-ID resumes within the last hour


def _where(offer: OfferRow, customer_id: uuid.UUID) -> Where:
    return Where(
        conversation_id=offer.conversation_id,
        customer_id=customer_id,
        queue=offer.queue,
        channel=offer.channel,
        priority=offer.priority,
    )


async def expire_offers(
    db: Database,
    rules: RulesHolder,
    config: EventConfig,
    metrics: Metrics,
    now: datetime,
) -> int:
    """Offers past their deadline time out; the next agent gets the conversation and,
    with `away_on_timeout`, the silent agent is set away."""
    async with db.transaction() as conn:
        expired = await Offers(conn).expire(now)
        if not expired:
            return 0
        holding = Holding(conn)
        fx = Effects(config)
        to_requeue = []
        away: set[str] = set()
        for offer in expired:
            state = await holding.state(offer.conversation_id)
            if state is None:
                continue
            fx.step(
                "timed_out",
                _where(offer, state.customer_id),
                at=now,
                reason="offer not answered in time",
                agent_id=offer.agent_id,
                offer_id=offer.id,
                push="offer_withdrawn",
                push_data={"offer": offer_json(offer, "timed_out")},
            )
            if (
                state.holder_agent_id == offer.agent_id
                and state.assignment == "offered"
            ):
                to_requeue.append(offer.conversation_id)
            if rules.rules.queue_policy(offer.queue).away_on_timeout:
                away.add(offer.agent_id)
        await requeue(conn, fx, to_requeue, at=now, reason="offer timed out")
        fx.wake = True
        await fx.flush(conn)
        agents = Agents(conn)
        for agent_id in sorted(away):
            agent = await agents.get(agent_id)
            if agent is not None and agent.status == "available":
                await change_status(
                    conn, agent_id, "away", now, config, reason="offer timed out"
                )
    metrics.offers.labels(outcome="timed_out").inc(len(expired))
    return len(expired)


async def release_offline(
    db: Database, config: EventConfig, grace: timedelta, now: datetime
) -> int:
    """Conversations of agents offline longer than the grace return to their queues."""
    async with db.transaction() as conn:
        fx = Effects(config)
        holding = Holding(conn)
        released = 0
        for agent_id in await Agents(conn).offline_since_before(now - grace):
            held = await holding.held_by(agent_id)
            released += len(held)
            reason = f"agent offline for more than {grace.total_seconds():g} s"
            await requeue(conn, fx, held, at=now, reason=reason)
        await fx.flush(conn)
        return released


async def let_go_closed(db: Database, config: EventConfig, now: datetime) -> int:
    """A conversation closed while held frees its agent's capacity for the next."""
    async with db.transaction() as conn:
        fx = Effects(config)
        let_go = await Holding(conn).let_go_closed()
        for item in let_go:
            where = Where(
                conversation_id=item.id,
                customer_id=item.customer_id,
                queue=None,
                channel=None,
                priority=None,
            )
            fx.step(
                "released",
                where,
                at=now,
                reason="conversation closed",
                agent_id=item.agent_id,
                push="released",
            )
        stale = await Offers(conn).withdraw_stale(now)
        for offer in stale:
            state = await Holding(conn).state(offer.conversation_id)
            if state is None:
                continue
            fx.step(
                "withdrawn",
                _where(offer, state.customer_id),
                at=now,
                reason="the conversation moved on",
                agent_id=offer.agent_id,
                offer_id=offer.id,
                push="offer_withdrawn",
                push_data={"offer": offer_json(offer, "withdrawn")},
            )
        fx.wake = bool(let_go or stale)
        await fx.flush(conn)
        return len(let_go) + len(stale)


async def prune_events(db: Database, now: datetime) -> int:
    async with db.transaction() as conn:
        return await AgentEvents(conn).prune(now - EVENT_RETENTION)
