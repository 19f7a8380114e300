"""The scheduler: one active per database (advisory lock, like the relay), for
assignment and for SLA timers.

It wakes on NOTIFY (a conversation waits, capacity freed, an agent available) and at
least every `poll_seconds` for what is due by time: offer deadlines, expansion steps
(from `waiting_since`, stored), offline grace. All of it is in PostgreSQL, so a
restart or a new leader loses nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from app.assignment import timers
from app.assignment.assign import BATCH, assign_waiting
from app.db import Database, dsn
from app.events import EventConfig
from app.leader import leadership, pause
from app.metrics import Metrics
from app.repositories.holding import ASSIGN_LOCK_KEY, CHANNEL
from app.rules_state import RulesHolder
from app.settings import Settings
from app.sla import due as sla_due
from app.sla.csat import send_follow_ups
from app.sla.timers import SlaContext

log = structlog.get_logger(__name__)

LEADER_KEY = ASSIGN_LOCK_KEY + 1  # the session lock electing the scheduler
PRUNE_EVERY = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerConfig:
    offline_grace: timedelta = timedelta(seconds=120)
    poll_seconds: float = 0.5
    standby_seconds: float = 2.0


class Scheduler:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        rules: RulesHolder,
        events: EventConfig,
        metrics: Metrics,
        config: SchedulerConfig,
    ) -> None:
        self._db = db
        self._settings = settings  # follow-up surveys are sent as replies
        self._dsn = dsn(settings)
        self._timers_at = 0.0
        self._rules = rules
        self._events = events
        self._metrics = metrics
        self._config = config
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._lost = False
        self._pruned_at = 0.0
        self.role = "starting"

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self._lead_while_leader()
            jitter = random.uniform(0.5, 1)
            await pause(self._config.standby_seconds * jitter, self._stopping)
        self.role = "stopped"

    async def stop(self) -> None:
        self._stopping.set()

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    def _on_lost(self, _: object) -> None:
        self._lost = True
        self._wakeup.set()

    async def _lead_while_leader(self) -> None:
        self._lost = False
        try:
            async with leadership(
                self._dsn,
                LEADER_KEY,
                channel=CHANNEL,
                on_notify=self._on_notify,
                application_name="omniroute.scheduler",
                on_lost=self._on_lost,
            ) as conn:
                self.role = "leader" if conn is not None else "standby"
                if conn is not None:
                    log.info("scheduler.leading")
                    await self._lead()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self.role = "reconnecting"
            log.warning("scheduler.database_lost", error=type(error).__name__)
        except Exception:  # never die silently: log, stand by, try again
            log.exception("scheduler.failed")

    async def _lead(self) -> None:
        # A wake-up (a conversation waits, capacity freed) assigns at once; what is
        # due by time (offer deadlines, grace, SLA, surveys) is looked at every poll.
        while not self._stopping.is_set() and not self._lost:
            self._wakeup.clear()
            now = datetime.now(UTC)
            if time.monotonic() - self._timers_at >= self._config.poll_seconds:
                self._timers_at = time.monotonic()
                await self.tick(now)
            else:
                await self.assign(now)
            await pause(self._config.poll_seconds, self._stopping, self._wakeup)

    async def tick(self, now: datetime) -> int:
        """One full round at `now`: timers first (they free capacity), then assign
        until done. Returns how many conversations were offered or assigned."""
        await timers.expire_offers(
            self._db, self._rules, self._events, self._metrics, now
        )
        await timers.release_offline(
            self._db, self._events, self._config.offline_grace, now
        )
        await timers.let_go_closed(self._db, self._events, now)
        # SLA: warnings and breaches due (each once); closes made elsewhere.
        await sla_due.publish_due(self._db, self._events, self._metrics, now)
        await sla_due.settle_closed(self._db, self._rules.rules, self._events, now)
        sla = SlaContext(self._rules, self._events, self._metrics)
        await send_follow_ups(self._db, self._settings, sla, now)
        if time.monotonic() - self._pruned_at > PRUNE_EVERY:
            await timers.prune_events(self._db, now)
            self._pruned_at = time.monotonic()
        return await self.assign(now)

    async def assign(self, now: datetime) -> int:
        """Offer or assign waiting conversations until none can be placed."""
        placed = 0
        while not self._stopping.is_set():
            done = await assign_waiting(self._db, self._rules, self._events, now)
            placed += done.placed
            self._metrics.offers.labels(outcome="offered").inc(done.placed)
            if done.placed == 0 or done.examined < BATCH:
                break
        return placed
