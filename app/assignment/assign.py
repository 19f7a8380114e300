"""The assigner: waiting conversations, in line order, to eligible agents.

One transaction per batch under the assignment lock: loads are read after taking it
and every load-raising change takes it too, so the capacity check and the choice are
atomic across replicas. The choice itself is pure (routing.assignment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.assignment.effects import Effects, Where, offer_json
from app.db import Database
from app.events import EventConfig
from app.repositories.agents import AgentRow, Agents
from app.repositories.assignment_log import AssignmentRecord
from app.repositories.holding import Holding, Loads, WaitingRow
from app.repositories.offers import OfferRow, Offers
from app.rules_state import RulesHolder
from routing.assignment import (
    AgentPool,
    AgentState,
    Choice,
    WaitingConversation,
    choose,
    with_assignment,
)
from routing.model import Priority, QueuePolicy

BATCH = 2000


@dataclass(frozen=True, slots=True)
class Pass:
    examined: int  # waiting conversations looked at
    placed: int  # offered or assigned


def agent_state(agent: AgentRow, loads: Loads) -> AgentState:
    return AgentState(
        id=agent.id,
        status=agent.status,
        queues=frozenset(agent.queues),
        skills=frozenset(agent.skills),
        capacity=dict(agent.capacity),
        load=dict(loads.get(agent.id, {})),
        last_assigned_at=agent.last_assigned_at,
    )


def waiting_conversation(
    row: WaitingRow, refused: dict[uuid.UUID, frozenset[str]]
) -> WaitingConversation:
    return WaitingConversation(
        id=str(row.id),
        queue=row.queue,
        channel=row.channel,
        priority=Priority(row.priority),
        skills=row.skills,
        waiting_since=row.waiting_since,
        declined_by=refused.get(row.id, frozenset()),
        last_agent_id=row.last_agent_id,
    )


def record_of(
    row: WaitingRow,
    choice: Choice,
    policy: QueuePolicy,
    outcome: str,
    at: datetime,
    offer_id: uuid.UUID | None,
) -> AssignmentRecord:
    return AssignmentRecord(
        conversation_id=row.id,
        at=at,
        outcome=outcome,
        reason=choice.reason,
        agent_id=choice.agent_id,
        offer_id=offer_id,
        policy=policy.policy.value,
        considered=choice.considered,
        eligible=choice.eligible,
        excluded=dict(choice.excluded),
        agent_load=choice.agent_load,
        agent_capacity=choice.agent_capacity,
        agent_idle_seconds=choice.agent_idle_seconds,
        expansion_step=choice.expansion_step,
    )


async def assign_waiting(
    db: Database, rules: RulesHolder, config: EventConfig, now: datetime
) -> Pass:
    """Offer (or, with auto_accept, assign) what can be placed now; one batch."""
    async with db.transaction() as conn:
        holding = Holding(conn)
        await holding.lock_assignment()
        agents = await Agents(conn).all()
        if not any(a.status == "available" for a in agents):
            return Pass(0, 0)
        waiting = await holding.waiting(BATCH)
        if not waiting:
            return Pass(0, 0)
        loads = await holding.loads()
        refused = await Offers(conn).refused([w.id for w in waiting])
        states = {a.id: agent_state(a, loads) for a in agents}
        pool = AgentPool.of(states.values())
        ruleset = rules.rules
        picks: list[tuple[WaitingRow, Choice, QueuePolicy]] = []
        hopeless: set[tuple[object, ...]] = set()
        for row in waiting:
            policy = ruleset.queue_policy(row.queue)
            waited = (now - row.waiting_since).total_seconds()
            # Loads only rise within a pass: what found nobody stays without anybody.
            key = (row.queue, row.channel, row.skills, _steps(policy, waited))
            if key in hopeless:
                continue
            choice = choose(waiting_conversation(row, refused), pool, policy, now)
            if choice.agent_id is None:
                if not refused.get(row.id) and row.last_agent_id is None:
                    hopeless.add(key)
                continue
            states[choice.agent_id] = with_assignment(
                states[choice.agent_id], row.channel, now
            )
            pool.update(states[choice.agent_id])
            picks.append((row, choice, policy))
        placed = await _write(conn, config, picks, now)
    return Pass(len(waiting), placed)


def _steps(policy: QueuePolicy, waited: float) -> int:
    return sum(1 for step in policy.expand if waited >= step.after_seconds)


async def _write(
    conn: asyncpg.Connection,
    config: EventConfig,
    picks: list[tuple[WaitingRow, Choice, QueuePolicy]],
    now: datetime,
) -> int:
    if not picks:
        return 0
    holding = Holding(conn)
    claims = [
        (row.id, str(choice.agent_id), "assigned" if policy.auto_accept else "offered")
        for row, choice, policy in picks
    ]
    claimed = await holding.claim(claims, now)
    fx = Effects(config)
    offers: list[OfferRow] = []
    remembered: list[tuple[uuid.UUID, str]] = []
    for row, choice, policy in picks:
        if row.id not in claimed:
            continue  # closed or taken meanwhile
        agent_id = str(choice.agent_id)
        where = Where(
            conversation_id=row.id,
            customer_id=row.customer_id,
            queue=row.queue,
            channel=row.channel,
            priority=row.priority,
        )
        if policy.auto_accept:
            remembered.append((row.customer_id, agent_id))
            fx.step(
                "assigned",
                where,
                at=now,
                reason=f"auto_accept; {choice.reason}",
                agent_id=agent_id,
                record=record_of(row, choice, policy, "assigned", now, None),
                push="assigned",
                publish="accepted",
            )
            continue
        offer = OfferRow(
            id=uuid.uuid4(),
            conversation_id=row.id,
            agent_id=agent_id,
            queue=row.queue,
            channel=row.channel,
            priority=row.priority,
            status="pending",
            offered_at=now,
            expires_at=now + timedelta(seconds=policy.offer_timeout_seconds),
        )
        offers.append(offer)
        fx.step(
            "offered",
            where,
            at=now,
            reason=choice.reason,
            agent_id=agent_id,
            offer_id=offer.id,
            record=record_of(row, choice, policy, "offered", now, offer.id),
            push="offer",
            push_data={"offer": offer_json(offer)},
        )
    await Offers(conn).add_many(offers)
    await holding.remember_agents(remembered)
    await Agents(conn).touch(
        sorted({r.agent_id for r in fx.records if r.agent_id}), now
    )
    await fx.flush(conn)
    return len(claimed)
