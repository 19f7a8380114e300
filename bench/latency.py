"""End-to-end latency: signed webhook in -> routing decision consumed from Kafka.

The real service (`omniroute serve`, one uvicorn worker, relay inside) on a fresh,
migrated database publishes to a librdkafka mock cluster in this process. After an
unmeasured first contact from every pool sender (as in the ingest part) and a drained
outbox, an aiokafka consumer (no group, all partitions, from the end) reads the
decisions topic while an open-loop generator sends the mixed-channel webhooks of
bench/ingest_requests.py at a fixed rate: request i is due at t0 + i/rate, and every
latency is measured from that due time, so a stalled server cannot slow the sender
down and hide its own delay (no coordinated omission). A short warm-up at the same
rate runs first, on the same schedule, and is not counted.

Matching: after the run, `messages JOIN decisions` gives each provider message id its
decision id, which is the event's CloudEvents `id`; the consumer stamped every record
with time.monotonic() when `getmany` returned it. So e2e = consumed - due.

The client is raw asyncio streams with pre-rendered requests over keep-alive
connections (httpx costs several times the CPU per request on 2 cores). Its own lag
(task start - due) is reported, to show whether the generator kept up.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import math
import random
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench import ingest, procs
from bench.ingest_requests import Workload, make_pool, rendered
from devtools.payloads import SignedRequest

IDLE_DROP_SECONDS = 2.0  # uvicorn closes idle keep-alive connections after 5 s


@dataclass(frozen=True)
class LatencyConfig:
    rate: float = 300.0  # requests per second, fixed
    seconds: float = 60.0  # measured
    warmup: float = 5.0  # same rate, not counted
    max_connections: int = 256
    prime_concurrency: int = 32
    phones: int = 1500
    emails: int = 300
    visitors: int = 500
    fetch_max_wait_ms: int = 5  # see README: the mock broker delays empty fetches
    drain_timeout: float = 30.0


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        xs = sorted(values)
        if not xs:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)

        def q(p: float) -> float:
            return xs[min(len(xs) - 1, max(0, math.ceil(p * len(xs)) - 1))]

        return cls(len(xs), q(0.5), q(0.9), q(0.99), q(0.999), xs[-1])


@dataclass
class LatencyReport:
    config: LatencyConfig
    prime_statuses: dict[int, int] = field(default_factory=dict)
    mix: dict[str, int] = field(default_factory=dict)
    scheduled: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # 0 = connection error
    errors: dict[str, int] = field(default_factory=dict)
    send_window_seconds: float = 0.0
    achieved_rate: float = 0.0  # 2xx answered per second of the measured window
    webhook: Percentiles | None = None  # response done - due
    service: Percentiles | None = None  # response done - request written
    lag: Percentiles | None = None  # generator: task start - due
    wait: Percentiles | None = None  # written - due (lag + waiting for a connection)
    e2e: Percentiles | None = None  # consumed - due
    relay: Percentiles | None = None  # consumed - response done
    ok: int = 0  # measured 2xx
    events_matched: int = 0  # measured 2xx whose event was consumed
    events_consumed: int = 0  # records read from the topic (warm-up + measured)
    duplicates: int = 0
    unknown_events: int = 0  # consumed ids not among this run's decisions
    missing: int = 0  # measured 2xx whose decision was never consumed
    missing_examples: list[str] = field(default_factory=list)
    unmapped: int = 0  # 2xx whose provider id had no decision row
    connections_opened: int = 0
    max_in_flight: int = 0
    max_outbox_pending: int = 0
    pending_after: int = 0
    service_cpu_ms: float = 0.0  # per measured message, whole service process
    loop_cpu_ms: float = 0.0  # per measured message, this process's event loop
    readyz: str = ""
    log_statuses: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def measured_2xx_events_equal(self) -> bool:
        return self.events_matched == self.ok


# ------------------------------------------------------------------ the client


class RawHttp:
    """HTTP/1.1 keep-alive connections over asyncio streams, pre-rendered requests."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(limit)
        self.opened = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def post(self, raw: bytes) -> tuple[int, float]:
        """(status, when the request was written); status 0 raises nothing."""
        async with self._slots:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await self._exchange(raw)
            finally:
                self.in_flight -= 1

    async def _exchange(self, raw: bytes) -> tuple[int, float]:
        reader, writer = await self._connection()
        written = time.monotonic()
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            start = lower.find(b"content-length:")
            if start < 0:
                raise ConnectionError("response without Content-Length")
            length = int(lower[start + 15 : lower.index(b"\r\n", start)])
            if length:
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if b"connection: close" in lower:
            writer.close()
        else:
            self._idle.append((reader, writer, time.monotonic()))
        return status, written

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        now = time.monotonic()
        while self._idle:
            reader, writer, last = self._idle.pop()  # most recently used first
            if now - last < IDLE_DROP_SECONDS and not reader.at_eof():
                return reader, writer
            writer.close()
        self.opened += 1
        return await asyncio.open_connection(self._host, self._port)

    def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()


# ------------------------------------------------------------------- matching


def provider_message_id(request: SignedRequest) -> str:
    """The id the service stores as messages.provider_message_id for this webhook."""
    if request.path == "/webhooks/twilio/sms":
        return parse_qs(request.body.decode())["MessageSid"][0]
    if request.path == "/webhooks/meta":
        doc = json.loads(request.body)
        return str(doc["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    if request.path == "/webhooks/chat":
        return str(json.loads(request.body)["message_id"])
    if request.path == "/webhooks/email/mime":
        header = email.message_from_bytes(request.body)["Message-ID"]
        return str(header).strip().strip("<>")
    raise ValueError(f"no provider id rule for {request.path}")


# -------------------------------------------------------------------- the run


@dataclass
class _Sent:
    due: float
    measured: bool
    provider_id: str
    started: float = math.nan
    written: float = math.nan
    done: float = math.nan
    status: int = -1  # -1: never finished; 0: connection error


def run(stamp: str, config: LatencyConfig, databases: list[str]) -> LatencyReport:
    database = f"omniroute_bench_{stamp}_latency"
    databases.append(database)
    procs.create_database(database)
    ingest.migrate(database)
    report = LatencyReport(config)
    port = procs.free_port()
    host = f"127.0.0.1:{port}"
    pool = make_pool(random.Random(42), config.phones, config.emails, config.visitors)
    load = Workload(f"http://{host}", ingest.SECRETS, pool, seed=3)
    first = [rendered(r, host) for r in load.first_contacts()]
    warm_n = round(config.rate * config.warmup)
    total = warm_n + round(config.rate * config.seconds)
    started = time.monotonic()
    stream = [(r, rendered(r, host)) for r in load.requests(total)]
    print(
        f"[latency] generated {len(first):,} first contacts and {total:,} requests"
        f" in {time.monotonic() - started:.1f}s"
    )
    report.mix = dict(load.kinds)
    with ingest.kafka_cluster() as cluster:
        service = ingest.start_service(
            "latency-service", database, cluster.bootstrap_servers, port
        )
        try:
            asyncio.run(
                _drive(
                    report,
                    config,
                    service,
                    database,
                    cluster.bootstrap_servers,
                    first,
                    stream,
                    warm_n,
                )
            )
        finally:
            report.exit_code = service.stop()
    statuses, events, problems = ingest.scan_log(service.log_path)
    report.log_statuses, report.events, report.problems = statuses, events, problems
    return report


async def _drive(
    report: LatencyReport,
    config: LatencyConfig,
    service: procs.Server,
    database: str,
    kafka: str,
    first: list[bytes],
    stream: list[tuple[SignedRequest, bytes]],
    warm_n: int,
) -> None:
    http = RawHttp("127.0.0.1", service.port, config.max_connections)
    db = await asyncpg.connect(procs.dsn(database))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=config.fetch_max_wait_ms,
    )
    try:
        print(f"[latency] first contact from each of {len(first):,} pool senders")
        report.prime_statuses = await _prime(http, first, config.prime_concurrency)
        await _drained(db, 60.0)
        report.readyz = _readyz(service.base_url)
        await consumer.start()
        tps = [
            TopicPartition(ingest.ROUTING_TOPIC, p)
            for p in range(ingest.TOPIC_PARTITIONS)
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        received = Received()
        stop = asyncio.Event()
        consuming = asyncio.create_task(_consume(consumer, received, stop))
        pending_max = [0]
        watching = asyncio.create_task(_watch_backlog(db, pending_max, stop))
        print(
            f"[latency] {config.rate:.0f} webhooks/s open loop: {config.warmup:.0f}s"
            f" warm-up + {config.seconds:.0f}s measured; readyz {report.readyz}"
        )
        sent = await _send(http, stream, warm_n, config, report, service)
        received.expect(sum(1 for s in sent if 200 <= s.status < 300))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(received.complete.wait(), config.drain_timeout)
        await asyncio.sleep(0.5)  # late duplicates, if any
        stop.set()
        await asyncio.gather(consuming, watching, return_exceptions=True)
        report.max_outbox_pending = pending_max[0]
        report.pending_after = int(
            await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )
        decisions = {
            pid: str(decision)
            for pid, decision in await db.fetch(
                "SELECT m.provider_message_id, d.id FROM decisions d"
                " JOIN messages m ON m.id = d.message_id"
            )
        }
        _match(report, sent, received.records, decisions)
    finally:
        http.close()
        with contextlib.suppress(Exception):
            await consumer.stop()
        await db.close()


async def _prime(
    http: RawHttp, requests: list[bytes], concurrency: int
) -> dict[int, int]:
    statuses: Counter[int] = Counter()
    queue = iter(requests)

    async def worker() -> None:
        for raw in queue:
            try:
                status, _ = await http.post(raw)
            except (OSError, asyncio.IncompleteReadError):
                status = 0
            statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return dict(statuses)


async def _drained(db: asyncpg.Connection, limit_seconds: float) -> None:
    deadline = time.monotonic() + limit_seconds
    while await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
        if time.monotonic() > deadline:
            raise RuntimeError("the service's relay did not drain the primed outbox")
        await asyncio.sleep(0.2)


def _readyz(base_url: str) -> str:
    try:
        with urllib.request.urlopen(base_url + "/readyz", timeout=5) as response:
            body = json.loads(response.read())
    except Exception as error:  # reported, not fatal
        return f"unavailable ({type(error).__name__})"
    checks = body.get("checks", {})
    return f"{body.get('status')} (kafka {checks.get('kafka')}, relay {checks.get('relay')})"


class Received:
    """Consumed records with the monotonic time `getmany` returned them."""

    def __init__(self) -> None:
        self.records: list[tuple[float, bytes]] = []
        self.complete = asyncio.Event()
        self._expected: int | None = None

    def add(self, at: float, values: list[bytes]) -> None:
        self.records.extend((at, v) for v in values)
        self._check()

    def expect(self, count: int) -> None:
        self._expected = count
        self._check()

    def _check(self) -> None:
        if self._expected is not None and len(self.records) >= self._expected:
            self.complete.set()


async def _consume(
    consumer: AIOKafkaConsumer, received: Received, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=50)
        now = time.monotonic()
        for records in batch.values():
            received.add(now, [r.value for r in records])


async def _watch_backlog(
    db: asyncpg.Connection, pending_max: list[int], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        pending = int(
            await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )
        pending_max[0] = max(pending_max[0], pending)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _send(
    http: RawHttp,
    stream: list[tuple[SignedRequest, bytes]],
    warm_n: int,
    config: LatencyConfig,
    report: LatencyReport,
    service: procs.Server,
) -> list[_Sent]:
    errors: Counter[str] = Counter()
    sent = [
        _Sent(0.0, i >= warm_n, provider_message_id(request))
        for i, (request, _) in enumerate(stream)
    ]

    async def fire(item: _Sent, raw: bytes) -> None:
        item.started = time.monotonic()
        try:
            item.status, item.written = await http.post(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            item.status = 0
            errors[type(error).__name__] += 1
        item.done = time.monotonic()

    tasks: list[asyncio.Task[None]] = []
    t0 = time.monotonic() + 0.2
    cpu_service = cpu_loop = 0.0
    for i, (item, (_, raw)) in enumerate(zip(sent, stream, strict=True)):
        item.due = t0 + i / config.rate
        if i == warm_n:
            cpu_service, cpu_loop = service.cpu_seconds(), time.thread_time()
        delay = item.due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(item, raw)))
    await asyncio.wait(tasks, timeout=60)
    measured = [s for s in sent if s.measured]
    report.scheduled = len(measured)
    report.send_window_seconds = max(s.done for s in measured) - measured[0].due
    report.service_cpu_ms = (
        1000 * (service.cpu_seconds() - cpu_service) / max(len(measured), 1)
    )
    report.loop_cpu_ms = 1000 * (time.thread_time() - cpu_loop) / max(len(measured), 1)
    report.statuses = dict(Counter(s.status for s in measured))
    report.errors = dict(errors)
    report.connections_opened = http.opened
    report.max_in_flight = http.max_in_flight
    ms = 1000.0
    ok = [s for s in measured if 200 <= s.status < 300]
    report.ok = len(ok)
    report.achieved_rate = len(ok) / (
        measured[-1].due - measured[0].due + 1 / config.rate
    )
    report.webhook = Percentiles.of([(s.done - s.due) * ms for s in measured])
    report.service = Percentiles.of([(s.done - s.written) * ms for s in ok])
    report.lag = Percentiles.of([(s.started - s.due) * ms for s in measured])
    report.wait = Percentiles.of([(s.written - s.due) * ms for s in ok])
    print(
        f"[latency] sent {len(measured):,} measured webhooks: statuses"
        f" {report.statuses}; webhook p50 {report.webhook.p50:.1f} ms"
        f" p99 {report.webhook.p99:.1f} ms; generator lag p99 {report.lag.p99:.1f} ms"
        f" max {report.lag.max:.1f} ms"
    )
    return sent


def _match(
    report: LatencyReport,
    sent: list[_Sent],
    received: list[tuple[float, bytes]],
    decisions: dict[str, str],
) -> None:
    consumed: dict[str, float] = {}
    duplicates = 0
    for at, value in received:
        event_id = str(json.loads(value)["id"])
        if event_id in consumed:
            duplicates += 1
        else:
            consumed[event_id] = at
    report.events_consumed = len(received)
    report.duplicates = duplicates
    known = set(decisions.values())
    report.unknown_events = sum(1 for e in consumed if e not in known)
    ms = 1000.0
    e2e, relay = [], []
    for s in sent:
        if not s.measured or not 200 <= s.status < 300:
            continue
        decision = decisions.get(s.provider_id)
        if decision is None:
            report.unmapped += 1
            continue
        at = consumed.get(decision)
        if at is None:
            report.missing += 1
            if len(report.missing_examples) < 5:
                report.missing_examples.append(s.provider_id)
            continue
        e2e.append((at - s.due) * ms)
        relay.append((at - s.done) * ms)
    report.events_matched = len(e2e)
    report.e2e = Percentiles.of(e2e)
    report.relay = Percentiles.of(relay)
    print(
        f"[latency] events matched {report.events_matched:,} of {report.ok:,} 2xx;"
        f" e2e p50 {report.e2e.p50:.1f} ms p99 {report.e2e.p99:.1f} ms"
        f" max {report.e2e.max:.1f} ms"
    )
