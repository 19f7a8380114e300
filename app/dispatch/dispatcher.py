"""The dispatcher: one leader per database claims queued sends per provider (bounded
in flight, paced per sender), calls the provider, and stores the outcome."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from app.db import Database
from app.dispatch.pacing import Pacers
from app.events import EventConfig
from app.leader import leadership, pause
from app.replies.status import record_status
from app.repositories.dispatches import CHANNEL, ClaimedDispatch, Dispatches
from app.repositories.replies import Replies
from outbound.model import Delivery, SendOutcome, Status, Verdict, delivery_from_json

log = structlog.get_logger(__name__)
LOCK_KEY = 0x6F6D6E6964697370  # "omnidisp": one dispatcher per database

Send = Callable[[Delivery], Awaitable[SendOutcome]]


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchConfig:
    max_attempts: int = 5
    concurrency: int = 16  # per provider
    poll_seconds: float = 1.0
    standby_seconds: float = 2.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0


@dataclass(slots=True)
class DispatcherStatus:
    role: str = "starting"  # starting | standby | leader | stopped


class Dispatcher:
    def __init__(
        self,
        db: Database,
        dsn: str,
        senders: Mapping[str, Send],
        events: EventConfig,
        pacers: Pacers,
        config: DispatchConfig = DispatchConfig(),
    ) -> None:
        self._db = db
        self._dsn = dsn
        self._senders = senders
        self._events = events
        self._pacers = pacers
        self._config = config
        self._claimer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._sending: dict[str, int] = defaultdict(int)  # requests per provider
        self._tasks: set[asyncio.Task[None]] = set()  # sends and their recording
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self.status = DispatcherStatus()

    async def run(self) -> None:
        """Stand by until this process holds the lock, then dispatch until stopped."""
        try:
            while not self._stopping.is_set():
                await self._lead_while_leader()
                await self._sleep(self._config.standby_seconds * random.uniform(0.5, 1))
        finally:
            await self._drain()
            self.status.role = "stopped"

    async def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def _lead_while_leader(self) -> None:
        try:
            async with leadership(
                self._dsn,
                LOCK_KEY,
                channel=CHANNEL,
                on_notify=self._on_notify,
                application_name="omniroute.dispatch",
            ) as conn:
                self.status.role = "leader" if conn is not None else "standby"
                if conn is not None:
                    log.info("dispatch.leading", claimer=self._claimer)
                    await self._mark_orphans()
                    await self._lead()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self.status.role = "reconnecting"
            log.warning("dispatch.database_lost", error=type(error).__name__)
        except Exception:  # never die silently: log, stand by, try again
            log.exception("dispatch.failed")

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _mark_orphans(self) -> None:
        """Sends claimed by a dispatcher that died may have been made: unknown."""
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            for message_id in await Dispatches(conn).close_orphans(self._claimer):
                row = await Replies(conn).lock(message_id)
                if row is not None:
                    await record_status(
                        conn,
                        self._events,
                        row,
                        Status.unknown,
                        now,
                        error_code="dispatcher_lost",
                        error="the dispatcher stopped after claiming this send;"
                        " it may or may not have reached the provider",
                    )
                    log.warning("dispatch.orphan_unknown", message_id=str(message_id))

    async def _lead(self) -> None:
        while not self._stopping.is_set():
            claimed, is_full = await self._claim_ready()
            if claimed == 0 and not self._stopping.is_set():
                # Every slot busy: a finishing send wakes us. Else the next due retry.
                idle = (
                    self._config.poll_seconds if is_full else await self._idle_seconds()
                )
                await self._sleep(idle, wake_on_notify=True)

    async def _claim_ready(self) -> tuple[int, bool]:
        """Claim for each configured provider as many rows as it has free slots;
        also whether some provider had none free (then there is nothing to poll)."""
        claimed, is_full = 0, False
        async with self._db.connection() as conn:
            dispatches = Dispatches(conn)
            for provider in self._senders:  # the claim reads one index entry if idle
                free = self._config.concurrency - self._sending[provider]
                if free <= 0:
                    is_full = True
                    continue
                for row in await dispatches.claim(provider, free, self._claimer):
                    self._start(row)
                    claimed += 1
        return claimed, is_full

    async def _idle_seconds(self) -> float:
        async with self._db.connection() as conn:
            due = await Dispatches(conn).next_due()
        if due is None:
            return self._config.poll_seconds
        wait = (due - datetime.now(UTC)).total_seconds()
        return min(max(wait, 0.01), self._config.poll_seconds)

    def _start(self, row: ClaimedDispatch) -> None:
        self._sending[row.provider] += 1  # the slot: released once the request is done
        task = asyncio.create_task(self._send(row))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _request_done(self, provider: str) -> None:
        self._sending[provider] -= 1
        self._wakeup.set()  # a slot is free: claim again

    async def _send(self, row: ClaimedDispatch) -> None:
        delivery = delivery_from_json(row.delivery)
        try:
            await self._pacers.of(row.provider, delivery.sender).wait_turn()
            outcome = await self._senders[row.provider](delivery)
        except Exception as error:  # a bug in a sender: the request may have gone out
            log.exception("dispatch.send_crashed", message_id=str(row.message_id))
            outcome = SendOutcome(
                verdict=Verdict.unknown,
                error_code="internal",
                error_message=f"{type(error).__name__} while sending",
            )
        finally:
            self._request_done(row.provider)
        try:
            await self._record(row, outcome)
        except Exception:  # the row stays claimed: a restart marks it unknown
            log.exception("dispatch.record_failed", message_id=str(row.message_id))

    async def _record(self, row: ClaimedDispatch, outcome: SendOutcome) -> None:
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            dispatches = Dispatches(conn)
            message = await Replies(conn).lock(row.message_id)
            if message is None:
                await dispatches.done(row.id)
                return
            if (
                outcome.verdict is Verdict.retry
                and row.attempts < self._config.max_attempts
            ):
                await dispatches.again_at(row.id, now + self._retry_delay(row, outcome))
                log.info(
                    "dispatch.retrying",
                    message_id=str(row.message_id),
                    attempt=row.attempts,
                    reason=outcome.error_code,
                )
                return
            status = _FINAL[outcome.verdict]
            await record_status(
                conn,
                self._events,
                message,
                status,
                now,
                error_code=outcome.error_code if status is not Status.sent else None,
                error=outcome.error_message if status is not Status.sent else None,
                provider_message_id=outcome.provider_message_id,
            )
            await dispatches.done(row.id)
        log.info(
            "dispatch.finished",
            message_id=str(row.message_id),
            provider=row.provider,
            status=status,
            attempts=row.attempts,
        )

    def _retry_delay(self, row: ClaimedDispatch, outcome: SendOutcome) -> timedelta:
        """The provider's Retry-After when it gave one, else full-jitter back-off."""
        if outcome.retry_after_seconds is not None:
            return timedelta(seconds=outcome.retry_after_seconds)
        ceiling = min(
            self._config.backoff_cap_seconds,
            self._config.backoff_base_seconds * 2 ** min(row.attempts, 20),
        )
        return timedelta(seconds=random.uniform(0, ceiling))

    async def _drain(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)

    async def _sleep(self, seconds: float, *, wake_on_notify: bool = False) -> None:
        wakeup = self._wakeup if wake_on_notify else None
        await pause(seconds, self._stopping, wakeup)
        self._wakeup.clear()


# Retries exhausted end as failed: certainly never delivered.
_FINAL = {
    Verdict.sent: Status.sent,
    Verdict.failed: Status.failed,
    Verdict.retry: Status.failed,
    Verdict.unknown: Status.unknown,
}
