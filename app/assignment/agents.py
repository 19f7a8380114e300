"""Agents and presence: create or replace, read with load, status changes, removal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from app.assignment.effects import Effects
from app.assignment.errors import AgentNotFound
from app.assignment.moves import requeue
from app.db import Database
from app.events import EventConfig, agent_status
from app.repositories.agents import AgentRow, Agents, AgentSettings
from app.repositories.holding import Holding
from app.repositories.offers import OfferRow, Offers
from app.repositories.outbox import Outbox
from routing.model import CHANNELS


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentView:
    agent: AgentRow
    load: dict[str, int]
    offers: list[OfferRow]
    conversations: list[uuid.UUID]

    @property
    def capacity(self) -> dict[str, int]:
        return {c: int(self.agent.capacity.get(c, 0)) for c in CHANNELS}

    @property
    def free(self) -> dict[str, int]:
        return {c: max(0, n - self.load.get(c, 0)) for c, n in self.capacity.items()}


async def _view(conn: asyncpg.Connection, agent: AgentRow) -> AgentView:
    loads = await Holding(conn).loads([agent.id])
    load = {c: loads.get(agent.id, {}).get(c, 0) for c in CHANNELS}
    return AgentView(
        agent=agent,
        load=load,
        offers=await Offers(conn).pending_of([agent.id]),
        conversations=await Holding(conn).assigned_to(agent.id),
    )


async def put(
    db: Database, settings: AgentSettings, config: EventConfig
) -> tuple[AgentView, bool]:
    """Create (offline) or replace the settings; presence is kept. True when created."""
    async with db.transaction() as conn:
        created = await Agents(conn).put(settings)
        agent = await Agents(conn).get(settings.id)
        assert agent is not None
        if created:
            at = datetime.now(UTC)
            await Outbox(conn).add(
                agent_status(config, agent.id, agent.status, None, at)
            )
        await Holding(conn).wake_scheduler()  # more capacity or queues, maybe
        return await _view(conn, agent), created


async def get(db: Database, agent_id: str) -> AgentView:
    async with db.connection() as conn:
        agent = await Agents(conn).get(agent_id)
        if agent is None:
            raise AgentNotFound(f"agent {agent_id!r} does not exist")
        return await _view(conn, agent)


async def listing(db: Database) -> list[AgentView]:
    async with db.connection() as conn:
        return [await _view(conn, a) for a in await Agents(conn).all()]


async def offers_of(db: Database, agent_id: str) -> list[OfferRow]:
    async with db.connection() as conn:
        if await Agents(conn).get(agent_id) is None:
            raise AgentNotFound(f"agent {agent_id!r} does not exist")
        return await Offers(conn).pending_of([agent_id])


async def set_status(
    db: Database, agent_id: str, status: str, config: EventConfig
) -> AgentView:
    """Available: receives offers. Away: keeps its conversations, no new offers.
    Offline: its pending offers are withdrawn now; its conversations return to their
    queues when still offline after the grace (the scheduler's timer)."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        agent = await change_status(conn, agent_id, status, now, config)
        return await _view(conn, agent)


async def change_status(
    conn: asyncpg.Connection,
    agent_id: str,
    status: str,
    now: datetime,
    config: EventConfig,
    reason: str = "status set",
) -> AgentRow:
    agents = Agents(conn)
    agent = await agents.lock(agent_id)
    if agent is None:
        raise AgentNotFound(f"agent {agent_id!r} does not exist")
    if agent.status == status:
        return agent
    await agents.set_status(agent_id, status, now)
    await Outbox(conn).add(agent_status(config, agent_id, status, agent.status, now))
    fx = Effects(config)
    if status == "offline":
        offered = [o.conversation_id for o in await Offers(conn).pending_of([agent_id])]
        await requeue(
            conn, fx, offered, at=now, reason=f"agent went offline ({reason})"
        )
    fx.wake = fx.wake or status == "available"
    await fx.flush(conn)
    found = await agents.get(agent_id)
    assert found is not None
    return found


async def delete(db: Database, agent_id: str, config: EventConfig) -> None:
    """Remove the agent; its offers are withdrawn and its conversations wait again."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        agents = Agents(conn)
        found = await agents.lock(agent_id)
        if found is None:
            raise AgentNotFound(f"agent {agent_id!r} does not exist")
        if found.status != "offline":  # presence consumers learn it is gone
            event = agent_status(config, agent_id, "offline", found.status, now)
            await Outbox(conn).add(event)
        fx = Effects(config)
        held = await Holding(conn).held_by(agent_id)
        await requeue(conn, fx, held, at=now, reason="agent deleted")
        await fx.flush(conn)
        await agents.delete(agent_id)
