"""Queue figures for supervisors and the metrics: line length, agents, free capacity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.db import Database
from app.metrics import Metrics
from app.repositories.agents import Agents
from app.repositories.holding import Holding
from app.rules_state import RulesHolder
from routing.model import CHANNELS


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueView:
    name: str
    policy: str
    waiting: int
    oldest_waiting_seconds: float
    available_agents: int
    free_capacity: dict[str, int]


async def queues(db: Database, rules: RulesHolder) -> list[QueueView]:
    """Every queue configured, waited in or staffed, by name."""
    now = datetime.now(UTC)
    async with db.connection() as conn:
        waiting = await Holding(conn).waiting_by_queue()
        agents = await Agents(conn).all()
        loads = await Holding(conn).loads()
    ruleset = rules.rules
    names = set(ruleset.queues) | set(waiting) | {q for a in agents for q in a.queues}
    views = []
    for name in sorted(names):
        staff = [a for a in agents if a.status == "available" and name in a.queues]
        free = {
            channel: sum(
                max(
                    0,
                    int(a.capacity.get(channel, 0))
                    - loads.get(a.id, {}).get(channel, 0),
                )
                for a in staff
            )
            for channel in CHANNELS
        }
        count, oldest = waiting.get(name, (0, now))
        views.append(
            QueueView(
                name=name,
                policy=ruleset.queue_policy(name).policy.value,
                waiting=count,
                oldest_waiting_seconds=max(0.0, (now - oldest).total_seconds()),
                available_agents=len(staff),
                free_capacity=free,
            )
        )
    return views


async def refresh_gauges(db: Database, rules: RulesHolder, metrics: Metrics) -> None:
    """Set the queue gauges from the database (any replica answers the same)."""
    for view in await queues(db, rules):
        metrics.queue_waiting.labels(queue=view.name).set(view.waiting)
        metrics.queue_oldest_waiting.labels(queue=view.name).set(
            view.oldest_waiting_seconds
        )
        metrics.queue_available_agents.labels(queue=view.name).set(
            view.available_agents
        )
        for channel, free in view.free_capacity.items():
            metrics.queue_free_capacity.labels(queue=view.name, channel=channel).set(
                free
            )
