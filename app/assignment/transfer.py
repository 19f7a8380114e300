"""Transfer a conversation to another queue (keeping its place) or to one agent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.assignment.effects import Effects, Where, offer_json
from app.assignment.errors import AgentNotFound, TransferRefused
from app.assignment.moves import requeue
from app.db import Database
from app.desk.conversations import ConversationNotFound
from app.events import EventConfig
from app.repositories.agents import Agents
from app.repositories.holding import Holding
from app.repositories.offers import OfferRow, Offers
from app.rules_state import RulesHolder
from app.sla.timers import after_transfer
from routing.model import Priority


async def to_queue(
    db: Database,
    conversation_id: uuid.UUID,
    queue: str,
    rules: RulesHolder,
    config: EventConfig,
) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        holding = Holding(conn)
        state = await holding.state(conversation_id, lock=True)
        if state is None:
            raise ConversationNotFound(f"conversation {conversation_id} does not exist")
        if state.status != "open":
            raise TransferRefused(f"conversation {conversation_id} is closed")
        fx = Effects(config)
        reason = f"transferred from {state.queue} to queue {queue}"
        await requeue(conn, fx, [conversation_id], at=now, reason=reason, queue=queue)
        where = Where(
            conversation_id=conversation_id,
            customer_id=state.customer_id,
            queue=queue,
            channel=state.channel,
            priority=state.priority,
        )
        fx.step("transferred", where, at=now, reason=reason, agent_id=None)
        await fx.flush(conn)
        await after_transfer(
            conn,
            rules.rules,
            config,
            conversation_id,
            queue=queue,
            priority=Priority(state.priority or "normal"),
            channel=state.channel or "",
            now=now,
        )


async def to_agent(
    db: Database,
    conversation_id: uuid.UUID,
    agent_id: str,
    *,
    force: bool,
    rules: RulesHolder,
    config: EventConfig,
) -> OfferRow:
    """An offer to `agent_id`, who needs free capacity on the channel unless forced."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        holding = Holding(conn)
        await holding.lock_assignment()  # raises a load: same lock as the assigner
        state = await holding.state(conversation_id, lock=True)
        if state is None:
            raise ConversationNotFound(f"conversation {conversation_id} does not exist")
        if state.status != "open" or state.queue is None or state.channel is None:
            raise TransferRefused(f"conversation {conversation_id} is not open")
        agent = await Agents(conn).lock(agent_id)
        if agent is None:
            raise AgentNotFound(f"agent {agent_id!r} does not exist")
        if state.holder_agent_id == agent_id:
            raise TransferRefused(f"agent {agent_id!r} already holds it")
        load = (await holding.loads([agent_id])).get(agent_id, {}).get(state.channel, 0)
        capacity = int(agent.capacity.get(state.channel, 0))
        if not force and agent.status == "offline":
            raise TransferRefused(f"agent {agent_id!r} is offline")
        if not force and load >= capacity:
            raise TransferRefused(
                f"agent {agent_id!r} has no free capacity on {state.channel}"
                f" ({load} of {capacity}); send force: true to override"
            )
        fx = Effects(config)
        reason = f"transferred to agent {agent_id}" + (" (forced)" if force else "")
        await requeue(conn, fx, [conversation_id], at=now, reason=reason)
        await holding.hold(conversation_id, agent_id, "offered", now)
        policy = rules.rules.queue_policy(state.queue)
        offer = OfferRow(
            id=uuid.uuid4(),
            conversation_id=conversation_id,
            agent_id=agent_id,
            queue=state.queue,
            channel=state.channel,
            priority=state.priority or "normal",
            status="pending",
            offered_at=now,
            expires_at=now + timedelta(seconds=policy.offer_timeout_seconds),
        )
        await Offers(conn).add_many([offer])
        where = Where(
            conversation_id=conversation_id,
            customer_id=state.customer_id,
            queue=state.queue,
            channel=state.channel,
            priority=offer.priority,  # as the offer says, so events and offer agree
        )
        fx.step("transferred", where, at=now, reason=reason, agent_id=agent_id)
        fx.step(
            "offered",
            where,
            at=now,
            reason=reason,
            agent_id=agent_id,
            offer_id=offer.id,
            push="offer",
            push_data={"offer": offer_json(offer)},
        )
        await fx.flush(conn)
        return offer
