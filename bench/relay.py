"""Relay throughput: drain 100,000 outbox rows to Kafka vs a bare aiokafka producer.

The outbox of a fresh, migrated database is filled (COPY) with routing-decision
events built by app/events.py from decisions of the real rules engine over the
example rules, for about 2,000 customers. Then, alternating, in this process and
against one librdkafka mock cluster:

- relay: the real `Relay` from `app.main.make_relay` (its own producer settings and
  batch size) runs `relay.run()` until its `events_published` counter reaches the row
  count; the clock includes its connect, leadership and producer start (tens of ms).
- bare: an `AIOKafkaProducer` with the relay's settings (acks=all, idempotence,
  linger 5 ms, 256 KiB batches, the same content-type header) sends the same keys and
  payloads, read from the database beforehand, and waits for every acknowledgement.

Each run gets a fresh topic; before each relay run the outbox is reset with
`UPDATE outbox SET published_at = NULL, topic = <new topic>` and VACUUM ANALYZE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from app.events import CONTENT_TYPE, DecisionContext, EventConfig, routing_decision
from app.metrics import Metrics
from app.relay import make_relay
from app.settings import DEFAULT_RULES_FILE, Settings
from bench import ingest, procs
from bench.ingest_requests import WORDS
from devtools.mock_kafka import MockKafkaCluster
from routing.engine import decide
from routing.model import (
    ConversationState,
    CustomerFacts,
    MessageFacts,
    RuleSet,
)
from routing.rules import load_rules

HEADERS = [("content-type", CONTENT_TYPE.encode())]
# Mirrors the producer app/main.py make_relay builds (checked in `_check_settings`).
PRODUCER_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
}
PUBLISHED = "omniroute_events_published_total"


@dataclass(frozen=True)
class RelayBenchConfig:
    rows: int = 100_000
    customers: int = 2_000
    rounds: int = 3
    partitions: int = 6
    brokers: int = 1
    timeout: float = 180.0  # per run
    profile: bool = False  # one extra, unmeasured relay run under py-spy and timers


@dataclass(frozen=True)
class DrainResult:
    side: str  # relay | bare
    round: int
    events: int
    seconds: float
    loop_cpu_seconds: float  # CPU of the thread running the event loop
    on_topic: int  # sum of the topic's end offsets afterwards
    partitions_used: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return 1e6 * self.loop_cpu_seconds / max(self.events, 1)


@dataclass
class RelayReport:
    config: RelayBenchConfig
    batch_size: int = 0
    producer: dict[str, object] = field(default_factory=dict)
    fill_seconds: float = 0.0
    generate_seconds: float = 0.0
    payload_bytes_avg: float = 0.0
    keys: int = 0
    queues: dict[str, int] = field(default_factory=dict)
    relay: list[DrainResult] = field(default_factory=list)
    bare: list[DrainResult] = field(default_factory=list)
    pending_after: list[int] = field(default_factory=list)
    profile: Profile | None = None
    problems: list[str] = field(default_factory=list)

    def median(self, side: str, attr: str) -> float:
        runs = self.relay if side == "relay" else self.bare
        return float(statistics.median(getattr(r, attr) for r in runs))


# --------------------------------------------------------------------------- data


def _text(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(3, 30))
    roll = rng.random()
    if roll < 0.01:
        words.insert(rng.randrange(len(words) + 1), "chargeback")
    elif roll < 0.06:
        words.append(f"invoice #{rng.randint(10_000, 99_999)}")
    elif roll < 0.12:
        words.insert(0, "asap")
    return " ".join(words).capitalize() + "?"


def make_rows(
    n: int, customers: int, seed: int = 5
) -> tuple[list[tuple[str, str, uuid.UUID, str]], Counter[str]]:
    """(topic, key, event_id, payload) rows from real decisions of the example rules:
    ~2,000 customers (5 % tagged vip), sticky open conversations that sometimes close,
    mixed channels and languages, message times spread over the last day."""
    rng = random.Random(seed)
    rules: RuleSet = load_rules(DEFAULT_RULES_FILE.read_bytes())
    events = EventConfig(source="https://omniroute.example.com")
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(customers)]
    tags = {c: (("vip",) if rng.random() < 0.05 else ()) for c in ids}
    state: dict[uuid.UUID, tuple[uuid.UUID, ConversationState | None]] = {}
    channels = ("sms", "whatsapp", "chat", "email", "instagram", "messenger")
    weights = (35, 30, 20, 10, 3, 2)
    languages = ("en", "de", "fr", "es", None)
    lang_weights = (75, 12, 5, 5, 3)
    start = datetime.now(UTC) - timedelta(days=1)
    step = timedelta(days=1) / max(n, 1)
    rows: list[tuple[str, str, uuid.UUID, str]] = []
    queues: Counter[str] = Counter()
    for i in range(n):
        customer = ids[min(int(rng.paretovariate(1.2)) - 1, customers - 1)]
        if rng.random() < 0.7:  # most traffic is spread, some customers are chatty
            customer = rng.choice(ids)
        now = start + step * i
        conversation, current = state.get(customer, (uuid.uuid4(), None))
        if current is not None and rng.random() < 0.05:  # closed: a new one opens
            conversation, current = uuid.uuid4(), None
        channel = rng.choices(channels, weights)[0]
        facts = MessageFacts(
            channel=channel,
            text=_text(rng),
            language=rng.choices(languages, lang_weights)[0],
            received_at=now,
        )
        decision = decide(
            facts, CustomerFacts(tags=tags[customer]), current, rules, now
        )
        state[customer] = (
            conversation,
            ConversationState(
                is_open=True,
                queue=decision.queue,
                priority=decision.priority,
                skills=decision.skills,
                tags=decision.tags,
            ),
        )
        ctx = DecisionContext(
            decision_id=uuid.uuid4(),
            message_id=uuid.uuid4(),
            conversation_id=conversation,
            customer_id=customer,
            channel=channel,
            decided_at=now,
        )
        row = routing_decision(events, ctx, decision)
        rows.append((row.topic, row.key, row.event_id, row.payload))
        queues[decision.queue] += 1
    return rows, queues


# ---------------------------------------------------------------------- running


def run(stamp: str, config: RelayBenchConfig, databases: list[str]) -> RelayReport:
    database = f"omniroute_bench_{stamp}_relay"
    databases.append(database)
    procs.create_database(database)
    ingest.migrate(database)
    with MockKafkaCluster(config.brokers) as cluster:
        return asyncio.run(_run(database, cluster, config))


def _quiet_logs() -> None:
    """The relay logs with structlog; in this process keep only warnings and errors."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
    )
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


async def _run(
    database: str, cluster: MockKafkaCluster, config: RelayBenchConfig
) -> RelayReport:
    _quiet_logs()
    report = RelayReport(config)
    settings = Settings(
        database_url=procs.dsn(database),
        kafka_bootstrap_servers=cluster.bootstrap_servers,
    )
    report.batch_size = settings.relay_batch_size
    report.producer = dict(PRODUCER_SETTINGS)
    await _check_settings(settings, report)

    started = time.perf_counter()
    rows, queues = make_rows(config.rows, config.customers)
    report.generate_seconds = time.perf_counter() - started
    report.queues = dict(queues)
    report.keys = len({r[1] for r in rows})
    report.payload_bytes_avg = statistics.fmean(len(r[3].encode()) for r in rows)
    print(
        f"[relay] built {len(rows):,} routing-decision events for {report.keys:,}"
        f" customers in {report.generate_seconds:.1f}s"
        f" (avg payload {report.payload_bytes_avg:.0f} B)"
    )

    conn = await asyncpg.connect(procs.dsn(database))
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "outbox", records=rows, columns=["topic", "key", "event_id", "payload"]
        )
        await conn.execute("VACUUM ANALYZE outbox")
        report.fill_seconds = time.perf_counter() - started
        del rows
        # What the relay publishes, byte for byte (payload::text of the jsonb).
        records = [
            (key.encode(), payload.encode())
            for key, payload in await conn.fetch(
                "SELECT key, payload::text FROM outbox ORDER BY id"
            )
        ]
        print(
            f"[relay] outbox filled with COPY in {report.fill_seconds:.1f}s;"
            f" relay batch size {report.batch_size}, {config.partitions} partitions,"
            f" {config.brokers} broker(s)"
        )
        for i in range(1, config.rounds + 1):
            topic = f"bench.relay.{i}"
            cluster.create_topic(topic, config.partitions)
            await _reset(conn, topic)
            result = await _drain_relay(settings, cluster, topic, i, config)
            report.relay.append(result)
            pending = int(
                await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
            )
            report.pending_after.append(pending)
            _line(result, f"pending after {pending}")

            topic = f"bench.bare.{i}"
            cluster.create_topic(topic, config.partitions)
            await asyncio.sleep(0.2)
            result = await _send_bare(cluster, topic, records, i, config)
            report.bare.append(result)
            _line(result, "")
            for r in (report.relay[-1], result):
                if r.on_topic != config.rows:
                    report.problems.append(
                        f"{r.side} #{r.round}: {r.on_topic:,} records on the topic,"
                        f" expected {config.rows:,}"
                    )
        if config.profile:
            topic = "bench.relay.profile"
            cluster.create_topic(topic, config.partitions)
            await _reset(conn, topic)
            report.profile = await _profiled(settings, cluster, topic, config)
        if any(report.pending_after):
            report.problems.append(
                f"unpublished outbox rows after relay runs: {report.pending_after}"
            )
    finally:
        await conn.close()
    return report


async def _reset(conn: asyncpg.Connection, topic: str) -> None:
    """Every row pending again, for a fresh topic; dead tuples vacuumed."""
    await conn.execute("UPDATE outbox SET published_at = NULL, topic = $1", topic)
    await conn.execute("VACUUM ANALYZE outbox")


async def _check_settings(settings: Settings, report: RelayReport) -> None:
    """Compare PRODUCER_SETTINGS with the producer make_relay builds (never started;
    aiokafka internals, so a failure to read them is reported, not fatal)."""
    relay = make_relay(settings, Metrics())
    assert relay is not None
    producer = relay._new_producer()
    try:
        accumulator = producer._message_accumulator  # type: ignore[attr-defined]
        acks = producer._sender._acks  # type: ignore[attr-defined]
        actual = {
            "acks": "all" if acks == -1 else acks,
            "enable_idempotence": producer._txn_manager is not None,  # type: ignore[attr-defined]
            "linger_ms": round(accumulator._linger_time * 1000),
            "max_batch_size": accumulator._batch_size,
        }
    except AttributeError as error:
        report.problems.append(
            f"could not read make_relay's producer settings: {error}"
        )
        return
    finally:
        await producer.stop()
    differs = {k: v for k, v in actual.items() if PRODUCER_SETTINGS.get(k) != v}
    if differs:
        report.problems.append(
            f"make_relay's producer differs from the bare one: {differs}; bare uses"
            f" {PRODUCER_SETTINGS}"
        )


async def _published(metrics: Metrics, topic: str) -> float:
    return metrics.registry.get_sample_value(PUBLISHED, {"topic": topic}) or 0.0


async def _drain_relay(
    settings: Settings,
    cluster: MockKafkaCluster,
    topic: str,
    round_no: int,
    config: RelayBenchConfig,
) -> DrainResult:
    metrics = Metrics()
    relay = make_relay(settings, metrics)
    assert relay is not None
    cpu = time.thread_time()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        deadline = started + config.timeout
        while await _published(metrics, topic) < config.rows:
            if task.done():
                raise RuntimeError(f"relay.run() ended early: {task.result()!r}")
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"relay published {await _published(metrics, topic):,.0f} of"
                    f" {config.rows:,} in {config.timeout:.0f}s"
                    f" (status {relay.status})"
                )
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - cpu
    finally:
        await relay.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
    on_topic, used = await _topic_size(cluster, topic, config.partitions)
    return DrainResult(
        "relay",
        round_no,
        int(await _published(metrics, topic)),
        seconds,
        cpu,
        on_topic,
        used,
    )


async def _send_bare(
    cluster: MockKafkaCluster,
    topic: str,
    records: list[tuple[bytes, bytes]],
    round_no: int,
    config: RelayBenchConfig,
) -> DrainResult:
    producer = AIOKafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers,
        client_id="bench-bare",
        **PRODUCER_SETTINGS,  # type: ignore[arg-type]
    )
    await producer.start()
    try:
        cpu = time.thread_time()
        started = time.perf_counter()
        futures = [
            await producer.send(topic, value, key=key, headers=HEADERS)
            for key, value in records
        ]
        await asyncio.wait_for(asyncio.gather(*futures), config.timeout)
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - cpu
    finally:
        await producer.stop()
    on_topic, used = await _topic_size(cluster, topic, config.partitions)
    return DrainResult("bare", round_no, len(records), seconds, cpu, on_topic, used)


async def _topic_size(
    cluster: MockKafkaCluster, topic: str, partitions: int
) -> tuple[int, int]:
    """Records on the topic (sum of end offsets) and how many partitions got any."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=cluster.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return sum(ends.values()), sum(1 for v in ends.values() if v)


def _line(r: DrainResult, extra: str) -> None:
    print(
        f"[relay] {r.side:5} round {r.round}: {r.rate:9,.0f} events/s"
        f"  {r.seconds:6.2f}s  loop CPU {r.cpu_us_per_event:5.1f} us/event"
        f"  on topic {r.on_topic:,} over {r.partitions_used} partitions  {extra}"
    )


# -------------------------------------------------------------------- profiling


@dataclass
class Profile:
    """One extra relay drain (not in the medians): py-spy samples of this process's
    Python threads, and wall time per phase of `run_once` from wrappers put around
    asyncpg's fetch/execute and the relay's ack wait for that run only."""

    result: DrainResult
    batches: int
    phases: dict[str, float]  # seconds
    busy: float  # share of the run's wall time py-spy found the loop on CPU
    frames: list[tuple[str, float]]  # inclusive share of the busy samples
    path: str


async def _profiled(
    settings: Settings,
    cluster: MockKafkaCluster,
    topic: str,
    config: RelayBenchConfig,
) -> Profile:
    path = procs.OUT / "relay-profile.txt"
    rate = 200
    with (procs.OUT / "relay-profile.log").open("wb") as log:
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(path),
            "--nonblocking",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    await asyncio.sleep(1.5)  # attach before the run starts
    phases: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    with _phase_timers(phases, calls):
        result = await _drain_relay(settings, cluster, topic, 0, config)
    await asyncio.sleep(0.3)
    spy.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(spy.wait(), 30)
    except TimeoutError:
        spy.kill()
        await spy.wait()
    samples, frames = summarize_profile(path)
    publish = phases.pop("publish", 0.0)
    phases["send loop (producer.send per row)"] = publish - phases["ack wait"]
    phases["other (rows, metrics, housekeeping, loop)"] = result.seconds - sum(
        phases.values()
    )
    _line(result, "(profiled, not counted)")
    return Profile(
        result,
        calls[SELECT_PHASE],
        dict(phases),
        samples / rate / result.seconds,
        frames,
        str(path.relative_to(procs.BENCH_DIR.parent)),
    )


@contextlib.contextmanager
def _phase_timers(phases: Counter[str], calls: Counter[str]) -> Iterator[None]:
    """Wall time of the relay's SELECT, UPDATE, publish and ack wait (wrappers on the
    classes for the duration of one run; nothing else runs in this process then)."""
    from app.relay import relay as relay_module

    originals = {
        (asyncpg.Connection, "fetch"): asyncpg.Connection.fetch,
        (asyncpg.Connection, "execute"): asyncpg.Connection.execute,
        (relay_module, "send_batch"): relay_module.send_batch,
        (asyncpg.Connection, "fetchrow"): asyncpg.Connection.fetchrow,
        (relay_module, "settle"): relay_module.settle,
    }

    def timed(
        original: Callable[..., Awaitable[object]], name: Callable[[str], str | None]
    ) -> Callable[..., Awaitable[object]]:
        async def wrapper(self: object, first: object, *args: object, **kw: object):  # type: ignore[no-untyped-def]
            label = name(first if isinstance(first, str) else "")
            started = time.perf_counter()
            try:
                return await original(self, first, *args, **kw)
            finally:
                if label:
                    phases[label] += time.perf_counter() - started
                    calls[label] += 1

        return wrapper

    def sql(query: str) -> str | None:
        if "ORDER BY id LIMIT" in query:
            return SELECT_PHASE
        if query.startswith("UPDATE outbox SET published_at"):
            return "update published_at"
        if "count(*)" in query:
            return "backlog count"
        return None

    asyncpg.Connection.fetch = timed(asyncpg.Connection.fetch, sql)  # type: ignore[method-assign]
    asyncpg.Connection.execute = timed(asyncpg.Connection.execute, sql)  # type: ignore[method-assign]
    asyncpg.Connection.fetchrow = timed(asyncpg.Connection.fetchrow, sql)  # type: ignore[method-assign]
    # The relay module's names, as `_step` calls them: fetch + send, then ack + mark.
    relay_module.send_batch = timed(relay_module.send_batch, lambda _: "publish")  # type: ignore[assignment]
    relay_module.settle = timed(relay_module.settle, lambda _: "ack wait")  # type: ignore[assignment]
    try:
        yield
    finally:
        for (owner, attr), original in originals.items():
            setattr(owner, attr, original)


SELECT_PHASE = "select batch (SELECT ... payload::text)"
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^():]+)(?::\d+)?\)$")
_PLUMBING = ("asyncio/", "bench/", "<string>", "<frozen", "runpy.py", "threading.py")


def summarize_profile(path: Path, top: int = 14) -> tuple[int, list[tuple[str, float]]]:
    """Busy samples, and the inclusive share of them per frame (function (file)),
    leaving out asyncio's and the benchmark's own frames."""
    if not path.exists():
        return 0, []
    totals: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        labels = set()
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match is None or match["file"].startswith(_PLUMBING):
                continue
            labels.add(f"{match['name']} ({match['file']})")
        for label in labels:
            totals[label] += count
    if not samples:
        return 0, []
    return samples, [(label, n / samples) for label, n in totals.most_common(top)]
