"""Outbox -> Kafka. One leader (advisory lock) publishes unpublished rows in id order and
marks them only after the broker acknowledged them."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg
import structlog

from app.events import CONTENT_TYPE
from app.metrics import Metrics

log = structlog.get_logger(__name__)
LOCK_KEY = 0x6F6D6E69726F7574  # "omnirout": one relay leader per database
CHANNEL = "omniroute_outbox"
BACKLOG_REFRESH_SECONDS = 5.0
_HEADERS = [("content-type", CONTENT_TYPE.encode())]


class Producer(Protocol):
    """The slice of AIOKafkaProducer the relay uses."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]: ...


@dataclass(frozen=True, slots=True)
class PendingRow:
    id: int
    topic: str
    key: str
    payload: str


@dataclass(slots=True)
class RelayStatus:
    role: str = "starting"  # starting | standby | leader | stopped
    kafka: str = "unknown"  # unknown | ok | degraded
    last_error: str | None = None


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
        while not self._stopping.is_set():
            try:
                async with self._leadership() as is_leader:
                    if is_leader:
                        await self._lead()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("relay.database_lost", error=type(error).__name__)
            except Exception:  # never let the relay die silently: log, back off, retry
                log.exception("relay.failed")
            self._metrics.relay_leader.set(0)
            await self._sleep(self._config.standby_seconds * random.uniform(0.5, 1.0))
        await self._close_producer()
        self.status.role = "stopped"

    async def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[bool]:
        conn = await asyncpg.connect(
            self._dsn, server_settings={"application_name": "omniroute.relay"}
        )
        try:
            is_leader = bool(
                await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
            )
            self.status.role = "leader" if is_leader else "standby"
            if is_leader:
                await conn.add_listener(CHANNEL, self._on_notify)
                self._conn = conn
                self._metrics.relay_leader.set(1)
                log.info("relay.leading")
            yield is_leader
        finally:
            self._conn = None
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _lead(self) -> None:
        while not self._stopping.is_set():
            published = await self._cycle()
            if published == 0 and not self._stopping.is_set():
                await self._sleep(self._config.poll_seconds, wake_on_notify=True)

    async def _cycle(self) -> int:
        """One run_once, with failures turned into a jittered back-off (never a spin)."""
        try:
            published = await self.run_once()
        except PublishFailed as error:
            self._failures += 1
            self.status.kafka, self.status.last_error = "degraded", str(error)
            self._metrics.publish_failures.labels(error=str(error).split(":")[0]).inc()
            await self._close_producer()  # a fresh producer after any failed send
            await self._sleep(self._backoff())
            return -1
        self._failures = 0
        await self._housekeeping()
        return published

    async def run_once(self) -> int:
        """Publish one batch of pending rows; returns how many were acknowledged."""
        conn = self._require_conn()
        producer = await self._ensure_producer()
        rows = [
            PendingRow(*r)
            for r in await conn.fetch(
                "SELECT id, topic, key, payload::text FROM outbox WHERE published_at IS NULL"
                " ORDER BY id LIMIT $1",
                self._config.batch_size,
            )
        ]
        if not rows:
            return 0
        acked = await self._publish(producer, rows)
        if acked:
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
                [r.id for r in acked],
            )
            for topic, count in Counter(r.topic for r in acked).items():
                self._metrics.events_published.labels(topic=topic).inc(count)
        if len(acked) < len(rows):
            raise PublishFailed(f"{self.status.last_error or 'send failed'}")
        self.status.kafka, self.status.last_error = "ok", None
        return len(rows)

    async def _publish(
        self, producer: Producer, rows: Sequence[PendingRow]
    ) -> list[PendingRow]:
        """Send all, wait for the broker; the acknowledged per-key prefixes come back."""
        try:
            futures = [
                await producer.send(
                    r.topic, r.payload.encode(), key=r.key.encode(), headers=_HEADERS
                )
                for r in rows
            ]
        except Exception as error:  # aiokafka raises many types; all mean "not sent"
            self.status.last_error = f"{type(error).__name__}: {error}"
            return []
        await self._wait_for_acks(futures)
        return _acknowledged_prefixes(rows, futures, self.status)

    async def _wait_for_acks(self, futures: list[asyncio.Future[object]]) -> None:
        # An idempotent producer never expires a batch while the broker is away; keep
        # waiting on the same futures (re-sending would duplicate), report degraded.
        while True:
            _, pending = await asyncio.wait(
                futures, timeout=self._config.ack_wait_seconds
            )
            if not pending or self._stopping.is_set():
                return
            self.status.kafka = "degraded"
            self.status.last_error = (
                f"{len(pending)} events awaiting broker acknowledgement"
            )
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

    def _backoff(self) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        ceiling = min(
            self._config.backoff_cap_seconds,
            self._config.backoff_base_seconds * 2 ** min(self._failures, 20),
        )
        return random.uniform(0, ceiling)

    async def _housekeeping(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        if (
            loop_time - self._last_backlog >= 1.0
        ):  # a count(*) per batch would be costly
            self._last_backlog = loop_time
            await self._refresh_backlog()
        if loop_time - self._last_prune >= self._config.prune_every_seconds:
            self._last_prune = loop_time
            await self.prune()

    async def _refresh_backlog(self) -> None:
        conn = self._conn
        if conn is None:
            return
        count, oldest = await conn.fetchrow(
            "SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL"
        )
        self._metrics.outbox_pending.set(count)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        self._metrics.outbox_oldest_age.set(max(age, 0.0))

    async def prune(self) -> int:
        """Delete published rows older than the retention, in bounded batches."""
        conn = self._require_conn()
        cutoff = datetime.now(UTC) - self._config.retention
        result = await conn.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < $1"
            " LIMIT 10000)",
            cutoff,
        )
        return int(result.split()[-1])

    def _require_conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("the relay does not hold the leader connection")
        return self._conn

    async def _sleep(self, seconds: float, *, wake_on_notify: bool = False) -> None:
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake_on_notify:
            waiters.append(asyncio.ensure_future(self._wakeup.wait()))
        _, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
        self._wakeup.clear()


def _acknowledged_prefixes(
    rows: Sequence[PendingRow],
    futures: list[asyncio.Future[object]],
    status: RelayStatus,
) -> list[PendingRow]:
    """Rows acknowledged with no earlier failure of the same key (per-key order holds)."""
    failed_keys: set[str] = set()
    acked: list[PendingRow] = []
    for row, future in zip(rows, futures, strict=True):
        error = future.exception() if future.done() and not future.cancelled() else None
        if not future.done() or future.cancelled() or error is not None:
            failed_keys.add(row.key)
            if error is not None:
                status.last_error = f"{type(error).__name__}: {error}"
            continue
        if row.key not in failed_keys:
            acked.append(row)
    return acked
