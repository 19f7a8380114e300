"""Outbox -> Kafka. One leader per database (advisory lock) publishes unpublished rows in
id order, woken by NOTIFY with a poll as safety net, and marks rows only after the broker
acknowledged them."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from app.leader import leadership, pause
from app.metrics import Metrics
from app.relay.batch import (
    BatchResult,
    InFlight,
    Producer,
    SendFailed,
    send_batch,
    settle,
)
from app.repositories.outbox import CHANNEL, Outbox

log = structlog.get_logger(__name__)
LOCK_KEY = 0x6F6D6E69726F7574  # "omnirout": one relay leader per database


@dataclass(slots=True)
class RelayStatus:
    role: str = "starting"  # starting | standby | leader | reconnecting | stopped
    kafka: str = "unknown"  # unknown | ok | degraded
    last_error: str | None = None  # Kafka's
    database_error: str | None = None  # why the relay is reconnecting

    def lose_database(self, reason: str) -> None:
        """No leader connection: nothing is relayed, and Kafka's state is not known."""
        self.role, self.kafka, self.last_error = "reconnecting", "unknown", None
        self.database_error = reason

    def connect(self, *, is_leader: bool) -> None:
        self.role = "leader" if is_leader else "standby"
        self.database_error = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayConfig:
    batch_size: int = 500
    poll_seconds: float = 1.0
    standby_seconds: float = 2.0
    ack_wait_seconds: float = 5.0
    backoff_base_seconds: float = 0.2
    backoff_cap_seconds: float = 30.0
    retention: timedelta = timedelta(hours=24)
    prune_every_seconds: float = 60.0
    pipeline_depth: int = 4  # batches awaiting the broker while the next is sent
    backlog_every_seconds: float = 1.0  # a count(*) per batch would cost too much


def full_jitter(failures: int, base: float, cap: float) -> float:
    """Back-off after `failures` failures: uniform(0, min(cap, base * 2**failures))."""
    return random.uniform(0, min(cap, base * 2 ** min(failures, 20)))


class PublishFailed(Exception):
    pass


class Relay:
    def __init__(
        self,
        dsn: str,
        producer_factory: Callable[[], Producer],
        metrics: Metrics,
        config: RelayConfig = RelayConfig(),
    ) -> None:
        self._dsn = dsn
        self._new_producer = producer_factory
        self._metrics = metrics
        self._config = config
        self._producer: Producer | None = None
        self._conn: asyncpg.Connection | None = None
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._failures = 0
        self._last_prune = 0.0
        self._last_backlog = 0.0
        self.status = RelayStatus()

    async def run(self) -> None:
        """Stand by until this process holds the lock, then publish until stopped."""
        try:
            while not self._stopping.is_set():
                await self._lead_while_leader()
                self._metrics.relay_leader.set(0)
                await self._sleep(self._config.standby_seconds * random.uniform(0.5, 1))
        finally:  # cancelled too: a producer left open would keep its sockets
            await self._close_producer()
            self.status.role = "stopped"

    async def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def _lead_while_leader(self) -> None:
        try:
            async with self._leadership() as is_leader:
                if is_leader:
                    await self._lead()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._lose_database(type(error).__name__)
        except Exception:  # never let the relay die silently: log, back off, retry
            log.exception("relay.failed")

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[bool]:
        async with leadership(
            self._dsn,
            LOCK_KEY,
            channel=CHANNEL,
            on_notify=self._on_notify,
            application_name="omniroute.relay",
            on_lost=self._on_connection_lost,
        ) as conn:
            self.status.connect(is_leader=conn is not None)
            if conn is not None:
                self._conn = conn
                self._metrics.relay_leader.set(1)
                log.info("relay.leading")
            try:
                yield conn is not None
            finally:
                self._conn = None

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    def _on_connection_lost(self, _: object) -> None:
        # The server or the network closed the leader connection (the lock died with
        # it): say so now, not at the next cycle, and wake the loop to reconnect.
        self._lose_database("leader connection closed")
        self._wakeup.set()

    def _lose_database(self, reason: str) -> None:
        if self.status.role != "reconnecting":  # once per outage, not per retry
            log.warning("relay.database_lost", error=reason)
        self.status.lose_database(reason)
        self._metrics.relay_leader.set(0)

    async def _lead(self) -> None:
        in_flight: deque[InFlight] = deque()
        while not self._stopping.is_set():
            try:
                published = await self._step(in_flight)
            except PublishFailed as error:
                in_flight.clear()  # their rows stay unmarked: they are sent again
                if not self._stopping.is_set():
                    await self._back_off(error)
                continue
            self._failures = 0
            await self._housekeeping()
            if not in_flight and published == 0 and not self._stopping.is_set():
                await self._sleep(self._config.poll_seconds, wake_on_notify=True)

    async def _step(self, in_flight: deque[InFlight]) -> int:
        """Send the next batch while up to `pipeline_depth` earlier batches await the
        broker, then settle the oldest once the pipe is full or no new rows came:
        fetch and send overlap the broker's round trips. Batches settle in order, so
        a failure drops every later batch unmarked. Returns how many were marked."""
        outbox = Outbox(self._require_conn())
        producer = await self._ensure_producer()
        try:
            upcoming = await send_batch(
                outbox,
                producer,
                limit=self._config.batch_size,
                # Above what is in flight; an empty pipe fetches from 0, so a row
                # that committed late under a lower id goes in the next round.
                after=in_flight[-1].rows[-1].id if in_flight else 0,
            )
        except SendFailed as failed:
            raise PublishFailed(str(failed)) from failed
        if upcoming is not None:
            in_flight.append(upcoming)
        if not in_flight or (
            upcoming is not None and len(in_flight) < self._config.pipeline_depth
        ):
            return 0
        result = await settle(
            outbox,
            in_flight.popleft(),
            ack_wait_seconds=self._config.ack_wait_seconds,
            on_waiting=self._on_waiting,
            is_stopping=self._stopping.is_set,
        )
        self._count(result)
        if not result.is_complete:
            raise PublishFailed(result.error or "send failed")
        self.status.kafka, self.status.last_error = "ok", None
        return len(result.published)

    async def _back_off(self, error: PublishFailed) -> None:
        """After any failed send: a fresh producer, and a jittered pause (no spin)."""
        self._failures += 1
        self.status.kafka, self.status.last_error = "degraded", str(error)
        self._metrics.publish_failures.labels(error=str(error).split(":")[0]).inc()
        await self._close_producer()
        config = self._config
        await self._sleep(
            full_jitter(
                self._failures, config.backoff_base_seconds, config.backoff_cap_seconds
            )
        )

    def _count(self, result: BatchResult) -> None:
        for topic, count in Counter(r.topic for r in result.published).items():
            self._metrics.events_published.labels(topic=topic).inc(count)

    async def _on_waiting(self, pending: int) -> None:
        self.status.kafka = "degraded"
        self.status.last_error = f"{pending} events awaiting broker acknowledgement"
        await self._refresh_backlog()

    async def _ensure_producer(self) -> Producer:
        if self._producer is not None:
            return self._producer
        producer = self._new_producer()
        try:
            await producer.start()
        except Exception as error:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise PublishFailed(f"{type(error).__name__}: {error}") from error
        self._producer = producer
        return producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def _housekeeping(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self._last_backlog >= self._config.backlog_every_seconds:
            self._last_backlog = loop_time
            await self._refresh_backlog()
        if loop_time - self._last_prune >= self._config.prune_every_seconds:
            self._last_prune = loop_time
            await self.prune()

    async def _refresh_backlog(self) -> None:
        if self._conn is None:
            return
        backlog = await Outbox(self._conn).backlog()
        self._metrics.outbox_pending.set(backlog.pending)
        oldest = backlog.oldest
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        self._metrics.outbox_oldest_age.set(max(age, 0.0))

    async def prune(self) -> int:
        """Delete published rows older than the retention, in bounded batches."""
        cutoff = datetime.now(UTC) - self._config.retention
        return await Outbox(self._require_conn()).prune(cutoff)

    def _require_conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("the relay does not hold the leader connection")
        return self._conn

    async def _sleep(self, seconds: float, *, wake_on_notify: bool = False) -> None:
        wakeup = self._wakeup if wake_on_notify else None
        await pause(seconds, self._stopping, wakeup)
        self._wakeup.clear()
