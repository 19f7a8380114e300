"""SLA timers and KPI statistics (issue 10): the scheduler's cost and the lateness of
SLA warnings with 100,000 open conversations, and GET /v1/stats over 1,000,000
conversations; each against a bare equivalent in the same run.

(a) Timers. `omniroute serve` (one uvicorn worker, the scheduler inside and leading,
relay to the mock Kafka) on a fresh, migrated database. First an empty-database
window (the service's own floor). Then 100,000 customers, 100,000 open conversations
(channel chat, assignment 'none', last message now: nothing to assign, nothing for
the idle sweeper) and 200,000 running SLA timers are written with COPY, followed by
VACUUM ANALYZE. Per conversation, a first_response timer and a resolution timer
(target 1 day, due far ahead); the first_response timers fall in three groups:
- **warn**: target 600 s, warn_at 0.8, warn_due_at uniform over [base, base +
  spread] (spread 300 s), so warnings come due continuously from `base`, and their
  breaches 120 s after each warning;
- **breach**: target 3600 s, already warned (warned_at = warn_due_at, in the past),
  due_at uniform over [base, base + spread]: breaches come due continuously;
- **far**: warn_due_at and due_at 2-3 hours ahead.
`base` is chosen when the timers are generated, `lead` seconds ahead, so after the
COPY there is an idle window in which nothing is due (the cost of looking with
200,000 running timers), then the measured window [base, base + window). Cost per
wall second = CPU seconds of the service's process tree, and of the database's
PostgreSQL backends (every backend of that database but the bench's own
connection), over the window. Lateness of a warning = the outbox row's created_at
(PostgreSQL now() of the transaction that wrote it) minus the timer's warn_due_at,
for every timer whose warn_due_at is in the window; the row commits a few ms after
its created_at (the rest of that batch's transaction). Also given: published_at
(the relay's mark after Kafka acknowledged) minus warn_due_at, and the same for
breaches (due_at). Exactly once: outbox rows grouped by conversation, metric and
event type, none may have two; every timer due in the window must have its event.

Bare (a): a copy of the same rows (same generator, its own base) in another
database, no service; one asyncpg connection in this process loops, every 0.5 s
after the previous round, `SELECT ... FROM sla_timers WHERE warned_at IS NULL AND
stopped_at IS NULL AND warn_due_at <= now() ORDER BY warn_due_at LIMIT 500 FOR UPDATE
SKIP LOCKED; UPDATE ... SET warned_at = now(); INSERT INTO outbox ...` (one
transaction per batch, until a batch is not full), and the same for breaches on the
due_at index. No conversation join, no CloudEvents document, no relay. Its cost =
its backend's CPU + this process's loop thread.

(b) Stats. 1,000,000 conversations over 90 days (290,000 customers plus one per
open conversation; the last day's conversations partly open), ~1.5 responses per
conversation, an `accepted` assignment_log row per closed conversation, and SLA
timers (first_response, resolution) for 30 % of them, written with COPY (keys and
indexes dropped for the load and rebuilt from their catalog definitions), then
VACUUM ANALYZE. `omniroute serve` on that database; a sequential httpx client
(concurrency 1) times GET /v1/stats: the last 7 days without filters (the default
interval), 30 days, and 7 days filtered by queue and agent_id, each for up to
`stats_requests` requests or until `stats_seconds` have passed (no request starts
later), after one unmeasured request; a failed or timed-out request counts with its
time. Bare (b): `python -m bench.sla --port N --dsn ...`, FastAPI + uvicorn +
asyncpg answering `SELECT count(*) FROM conversations WHERE opened_at >= $1 AND
opened_at < $2` over the last 7 days, timed the same way. Then, in this process:
each statement of app/repositories/stats.py once per query on a fresh connection
(custom plans); the five statements of one request 6 times on one connection with a
statement timeout (PostgreSQL's plan cache tries the generic plan from the 6th
execution of a prepared statement, and asyncpg prepares them all); the custom and
generic plan costs of each; and EXPLAIN (ANALYZE, BUFFERS) of the slowest 7-day
statement, written to bench/out/sla-explain-<statement>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app.events import SLA_BREACHED_TYPE, SLA_WARNING_TYPE
from app.repositories import sla_timers as sla_repo
from app.repositories import stats as stats_repo
from bench import ingest, procs
from bench.dispatch import _run_on_loop
from bench.latency import Percentiles
from bench.seed import _drop_keys_and_indexes
from devtools.mock_kafka import MockKafkaCluster

AUTH = {"Authorization": f"Bearer {ingest.API_TOKEN}"}
SLA_TOPIC = "omniroute.sla"
TOPICS = (
    "omniroute.routing.decisions",
    "omniroute.customers",
    "omniroute.messages",
    "omniroute.assignments",
    "omniroute.agents",
    SLA_TOPIC,
    "omniroute.csat",
)
QUEUES = ("support", "sales", "billing", "tech", "vip", "returns")
QUEUE_WEIGHTS = (0.4, 0.2, 0.15, 0.15, 0.05, 0.05)
CHANNELS = ("sms", "whatsapp", "chat", "email")
CHANNEL_WEIGHTS = (0.3, 0.3, 0.25, 0.15)
AGENTS = 200
DAY = 86_400.0
WINDOW_BUCKET = 10.0  # (a): lateness p50/p99 per bucket of the measured window

# ------------------------------------------------------------ (a) the bare loop

_BARE_WARN = (
    "SELECT conversation_id, metric, customer_id FROM sla_timers"
    " WHERE warned_at IS NULL AND stopped_at IS NULL AND warn_due_at <= now()"
    " ORDER BY warn_due_at LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_BARE_WARNED = (
    "UPDATE sla_timers t SET warned_at = now()"
    " FROM unnest($1::uuid[], $2::text[]) AS x(c, m)"
    " WHERE t.conversation_id = x.c AND t.metric = x.m"
)
_BARE_BREACH = (
    "SELECT conversation_id, metric, customer_id FROM sla_timers"
    " WHERE breach_published_at IS NULL AND stopped_at IS NULL AND due_at <= now()"
    " ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_BARE_BREACHED = (
    "UPDATE sla_timers t SET breached_at = t.due_at, breach_published_at = now(),"
    " warned_at = coalesce(t.warned_at, now())"
    " FROM unnest($1::uuid[], $2::text[]) AS x(c, m)"
    " WHERE t.conversation_id = x.c AND t.metric = x.m"
)
_BARE_OUTBOX = (
    "INSERT INTO outbox (topic, key, event_id, payload)"
    f" SELECT '{SLA_TOPIC}', x.k, gen_random_uuid(), jsonb_build_object('type', $4::text,"
    " 'data', jsonb_build_object('conversation_id', x.c, 'metric', x.m))"
    " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(c, m, k)"
)

# ------------------------------------------------------------- (a) measurement

_EVENTS = (
    "WITH ev AS (SELECT (payload->'data'->>'conversation_id')::uuid AS c,"
    " payload->'data'->>'metric' AS m, payload->>'type' AS kind, created_at,"
    f" published_at FROM outbox WHERE topic = '{SLA_TOPIC}')"
)
# seconds late (written, published) of each event of `kind` for a timer whose due
# instant ($2: warn_due_at or due_at) is in [$3, $4)
_LATENESS = (
    f"{_EVENTS} SELECT extract(epoch FROM ev.created_at - t.{{due}}),"
    " extract(epoch FROM ev.published_at - t.{due}),"
    " extract(epoch FROM t.{due} - $2::timestamptz)"
    " FROM ev JOIN sla_timers t ON t.conversation_id = ev.c AND t.metric = ev.m"
    " WHERE ev.kind = $1 AND t.{due} >= $2 AND t.{due} < $3"
)
_DUPLICATES = (
    f"{_EVENTS} SELECT count(*) FROM (SELECT 1 FROM ev GROUP BY c, m, kind"
    " HAVING count(*) > 1) d"
)
# timers due ($2 column) in [$3, $4) without an event of kind $1
_MISSING = (
    f"{_EVENTS} SELECT count(*) FROM sla_timers t WHERE t.{{due}} >= $2"
    " AND t.{due} < $3 AND NOT EXISTS (SELECT 1 FROM ev WHERE ev.c = t.conversation_id"
    " AND ev.m = t.metric AND ev.kind = $1)"
)
# events for a timer not yet due when they were written
_EARLY = (
    f"{_EVENTS} SELECT count(*) FROM ev JOIN sla_timers t ON t.conversation_id = ev.c"
    " AND t.metric = ev.m WHERE (ev.kind = $1 AND ev.created_at < t.warn_due_at)"
    " OR (ev.kind = $2 AND ev.created_at < t.due_at)"
)
_TABLE_STATS = (
    "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0),"
    " coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
    " WHERE relname IN ('sla_timers', 'conversations')"
)


@dataclass(frozen=True)
class SlaBenchConfig:
    conversations: int = 100_000  # (a): open, with running timers
    spread: float = 300.0  # (a): due instants spread over this many seconds
    window: float = 60.0  # (a): measured, from base
    idle: float = 10.0  # (a): measured before anything is due
    floor: float = 8.0  # (a): measured on the empty database
    settle: float = 6.0  # (a): after the window, before counting
    warn_share: float = 0.5  # (a): first_response timers whose warning comes due
    breach_share: float = 0.25  # (a): already warned, breach comes due
    poll_seconds: float = 0.5  # (a) bare: the scheduler's poll
    batch: int = 500  # (a) bare: app/sla/due.py BATCH
    stats_conversations: int = 1_000_000  # (b)
    stats_customers: int = 290_000  # (b): besides one per open conversation
    stats_days: int = 90  # (b)
    stats_requests: int = 100  # (b): per query, at most
    stats_seconds: float = 12.0  # (b): per query, no request starts after this
    request_timeout: float = 40.0  # (b): the service's command_timeout is 30 s
    sla_share: float = 0.3  # (b): conversations with SLA timers
    timers: bool = True  # run (a)
    stats: bool = True  # run (b)


@dataclass(frozen=True)
class Cost:
    seconds: float  # wall
    service_cpu: float  # service process tree (bare: this process's loop thread)
    pg_cpu: float  # the database's backends but the bench's own connection
    table_reads: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

    @property
    def service_per_s(self) -> float:
        return self.service_cpu / self.seconds if self.seconds else 0.0

    @property
    def pg_per_s(self) -> float:
        return self.pg_cpu / self.seconds if self.seconds else 0.0


@dataclass
class Lateness:
    kind: str  # warning | breach
    due: int = 0  # timers due in the window
    events: int = 0  # their events
    missing: int = 0  # due in the window, no event after the settle time
    written: Percentiles | None = None  # created_at - due, seconds
    published: Percentiles | None = None  # published_at - due (service only)
    unpublished: int = 0
    buckets: list[tuple[float, float, float, int]] = field(default_factory=list)


@dataclass
class TimerRun:
    side: str  # service | bare
    seed_seconds: float = 0.0
    timers: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    floor: Cost | None = None  # service only: the empty database
    idle: Cost | None = None  # timers seeded, nothing due
    active: Cost | None = None  # the measured window
    warnings: Lateness | None = None
    breaches: Lateness | None = None
    sla_events: int = 0  # outbox rows on the SLA topic in all
    duplicates: int = 0  # (conversation, metric, type) with 2+ rows
    early: int = 0  # events written before their due instant
    rounds: int = 0  # bare: rounds run in the window
    due_plan: str = ""  # service: EXPLAIN ANALYZE of _DUE_WARNINGS when nothing is due
    due_plan_generic: str = ""  # the same, the generic plan of the prepared query
    # _DUE_WARNINGS after the service stopped, with what came due since (custom, generic)
    due_plan_active: str = ""
    due_plan_active_generic: str = ""

    @property
    def exactly_once(self) -> bool:
        w, b = self.warnings, self.breaches
        return (
            self.duplicates == 0
            and self.early == 0
            and w is not None
            and b is not None
            and w.missing == 0
            and b.missing == 0
        )


@dataclass(frozen=True)
class HttpTiming:
    label: str
    path: str
    latency: Percentiles  # ms
    statuses: dict[int, int]
    server_cpu_ms: float  # per request
    pg_cpu_ms: float  # per request
    body_bytes: int = 0
    requests: list[tuple[float, int]] = field(default_factory=list)  # (ms, status)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def sequence(self) -> str:
        """Each request in order (the first 40), `ms` or `ms/status` when not 200."""
        shown = ", ".join(
            f"{ms:.0f}" if status == 200 else f"{ms:.0f}/{status or 'timeout'}"
            for ms, status in self.requests[:40]
        )
        more = len(self.requests) - 40
        return shown + (f" ... and {more} more" if more > 0 else "")


@dataclass
class StatsRun:
    seed_seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    seed_phases: dict[str, float] = field(default_factory=dict)  # seconds
    scoped_7d: int = 0  # conversations opened in the 7-day interval
    warmup_ms: float = 0.0
    warmup_status: int = 0
    http: list[HttpTiming] = field(default_factory=list)
    # scope label -> statement -> ms (one execution on a fresh connection)
    statements: dict[str, dict[str, float]] = field(default_factory=dict)
    # rounds of the 7-day statements on one connection: statement -> ms (None: timed
    # out)
    repeated: list[dict[str, float | None]] = field(default_factory=list)
    # statement -> (custom plan cost, generic plan cost, generic scope estimate)
    plan_costs: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    slowest: str = ""
    explain_path: str = ""
    explain_total_ms: float = 0.0
    explain_top: list[tuple[str, float]] = field(default_factory=list)  # node, ms
    jit_ms: float | None = None
    sample: dict[str, object] = field(default_factory=dict)  # one 7-day answer


@dataclass
class SlaReport:
    config: SlaBenchConfig
    timers: list[TimerRun] = field(default_factory=list)
    stats: StatsRun | None = None
    scheduler_leading: dict[str, bool] = field(default_factory=dict)
    log_statuses: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def side(self, name: str) -> TimerRun | None:
        return next((r for r in self.timers if r.side == name), None)


# -------------------------------------------------------------- (a) the seed


@dataclass(frozen=True)
class TimerSeed:
    base: datetime  # warnings and breaches come due from here
    spread: float
    counts: dict[str, int]
    timers: int


def _timer_rows(
    conversations: list[uuid.UUID],
    customers: list[uuid.UUID],
    config: SlaBenchConfig,
    now: datetime,
    base: datetime,
) -> tuple[list[tuple[object, ...]], dict[str, int]]:
    """(conversation_id, metric, customer_id, policy_id, target_seconds,
    business_hours, warn_at, started_at, running_since, due_at, warn_due_at,
    warned_at) rows: the same for every side (seeded generator), relative to base."""
    rng = np.random.default_rng(10)
    n = len(conversations)
    group = rng.random(n)
    offset = rng.random(n) * config.spread
    far = rng.random(n) * 3600.0
    opened_ago = rng.random(n) * 3600.0
    rows: list[tuple[object, ...]] = []
    counts = {"warn": 0, "breach": 0, "far": 0}
    warn_at = 0.8
    for i in range(n):
        c, cu = conversations[i], customers[i]
        opened = now - timedelta(seconds=float(opened_ago[i]))
        if group[i] < config.warn_share:
            counts["warn"] += 1
            target = 600
            warn_due = base + timedelta(seconds=float(offset[i]))
            running = warn_due - timedelta(seconds=warn_at * target)
            due = running + timedelta(seconds=target)
            warned = None
        elif group[i] < config.warn_share + config.breach_share:
            counts["breach"] += 1
            target = 3600
            due = base + timedelta(seconds=float(offset[i]))
            running = due - timedelta(seconds=target)
            warn_due = running + timedelta(seconds=warn_at * target)
            warned = warn_due  # published when it was due, before this run
        else:
            counts["far"] += 1
            target = 14_400
            due = now + timedelta(seconds=2 * 3600 + float(far[i]))
            running = due - timedelta(seconds=target)
            warn_due = running + timedelta(seconds=warn_at * target)
            warned = None
        started = min(running, opened)
        rows.append(
            (
                c,
                "first_response",
                cu,
                "standard",
                target,
                False,
                warn_at,
                started,
                running,
                due,
                warn_due,
                warned,
            )
        )
        res_due = opened + timedelta(seconds=DAY)
        rows.append(
            (
                c,
                "resolution",
                cu,
                "standard",
                int(DAY),
                False,
                warn_at,
                opened,
                opened,
                res_due,
                opened + timedelta(seconds=warn_at * DAY),
                None,
            )
        )
    return rows, counts


async def _seed_timers(
    conn: asyncpg.Connection, config: SlaBenchConfig, lead: float
) -> TimerSeed:
    n = config.conversations
    now = datetime.now(UTC)
    customers = [uuid.uuid4() for _ in range(n)]
    conversations = [uuid.uuid4() for _ in range(n)]
    policy = ("standard", now)  # sla_policy_id, awaiting_since
    await conn.copy_records_to_table(
        "customers",
        columns=["id", "display_name", "created_at"],
        records=((c, f"Customer {i}", now) for i, c in enumerate(customers)),
    )
    await conn.copy_records_to_table(
        "conversations",
        columns=[
            "id",
            "customer_id",
            "status",
            "channels",
            "opened_at",
            "last_message_at",
            "message_count",
            "queue",
            "priority",
            "channel",
            "sla_policy_id",
            "awaiting_since",
        ],
        records=(
            (c, cu, "open", ["chat"], now, now, 1, "support", "normal", "chat", *policy)
            for c, cu in zip(conversations, customers, strict=True)
        ),
    )
    base = datetime.now(UTC) + timedelta(seconds=lead)
    rows, counts = _timer_rows(conversations, customers, config, now, base)
    await conn.copy_records_to_table(
        "sla_timers",
        columns=[
            "conversation_id",
            "metric",
            "customer_id",
            "policy_id",
            "target_seconds",
            "business_hours",
            "warn_at",
            "started_at",
            "running_since",
            "due_at",
            "warn_due_at",
            "warned_at",
        ],
        records=rows,
    )
    await conn.execute("VACUUM (ANALYZE) customers, conversations, sla_timers")
    return TimerSeed(base, config.spread, counts, len(rows))


# ---------------------------------------------------------- (a) measurement


async def _backend_ticks(conn: asyncpg.Connection) -> dict[int, int]:
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return {int(pid): procs._cpu_ticks(int(pid)) for (pid,) in pids}


async def _table_reads(conn: asyncpg.Connection) -> dict[str, tuple[int, ...]]:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return {r[0]: tuple(int(x) for x in r[1:]) for r in await conn.fetch(_TABLE_STATS)}


async def _measure(
    conn: asyncpg.Connection, server: procs.Server | None, seconds: float
) -> Cost:
    """Sleep `seconds` and return what the service (or, without one, this thread)
    and the database's other backends used meanwhile."""
    tick = os.sysconf("SC_CLK_TCK")
    pg0, reads0 = await _backend_ticks(conn), await _table_reads(conn)
    cpu0 = server.cpu_seconds() if server else time.thread_time()
    t0 = time.monotonic()
    await asyncio.sleep(max(seconds, 0.0))
    wall = time.monotonic() - t0
    cpu = (server.cpu_seconds() if server else time.thread_time()) - cpu0
    pg1, reads1 = await _backend_ticks(conn), await _table_reads(conn)
    pg = sum(t - pg0.get(pid, 0) for pid, t in pg1.items()) / tick
    reads = {
        k: tuple(a - b for a, b in zip(v, reads0.get(k, (0,) * len(v)), strict=True))
        for k, v in reads1.items()
    }
    return Cost(wall, cpu, pg, reads)  # type: ignore[arg-type]


def _plan_text(rows: list[asyncpg.Record]) -> str:
    return "\n".join(r[0] for r in rows)


def execution_ms(plan: str) -> float | None:
    """`Execution Time` of an EXPLAIN ANALYZE text."""
    for line in plan.splitlines():
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    return None


def plan_shape(plan: str) -> str:
    """The plan's join and scan nodes, top down, with the rows each produced: its
    shape on one line."""
    shape = []
    for line in plan.splitlines():
        text = line.strip().removeprefix("->").strip()
        node = text.split("  (")[0]
        kind = node.removeprefix("Parallel ").split(" on ")[0].split(" using ")[0]
        if not (kind.endswith(("Join", "Scan")) or kind == "Nested Loop"):
            continue
        actual = _ACTUAL.search(text)
        if actual:
            rows, loops = int(actual[1]), int(actual[2])
            node += f" ({rows * loops:,} rows"
            node += f" in {loops:,} loops)" if loops > 1 else ")"
        elif "never executed" in text:
            node += " (never executed)"
        shape.append(node)
    return " > ".join(shape)


_ACTUAL = re.compile(r"actual time=[0-9.]+\.\.[0-9.]+ rows=(\d+) loops=(\d+)")


async def _explain_due(conn: asyncpg.Connection, at: datetime, generic: bool) -> str:
    """EXPLAIN ANALYZE of the scheduler's `_DUE_WARNINGS` at `at`, rolled back (it locks)."""
    tr = conn.transaction()
    await tr.start()
    try:
        if generic:
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute(
                f"PREPARE bench_due(timestamptz, int) AS {sla_repo._DUE_WARNINGS}"
            )
            rows = await conn.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_due('{at.isoformat()}', 500)"
            )
            await conn.execute("DEALLOCATE bench_due")
        else:
            rows = await conn.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) {sla_repo._DUE_WARNINGS}", at, 500
            )
    finally:
        await tr.rollback()
    return _plan_text(rows)


def _buckets(rows: list[tuple[float, float]]) -> list[tuple[float, float, float, int]]:
    """(bucket start s into the window, p50, p99, n) of (offset, lateness) pairs."""
    by: dict[int, list[float]] = {}
    for offset, late in rows:
        by.setdefault(int(offset // WINDOW_BUCKET), []).append(late)
    out = []
    for b, values in sorted(by.items()):
        q = Percentiles.of(values)
        out.append((b * WINDOW_BUCKET, q.p50, q.p99, q.count))
    return out


async def _lateness(
    conn: asyncpg.Connection, kind: str, due: str, start: datetime, end: datetime
) -> Lateness:
    event_type = SLA_WARNING_TYPE if kind == "warning" else SLA_BREACHED_TYPE
    rows = await conn.fetch(_LATENESS.format(due=due), event_type, start, end)
    n_due = int(
        await conn.fetchval(
            f"SELECT count(*) FROM sla_timers WHERE {due} >= $1 AND {due} < $2",
            start,
            end,
        )
    )
    missing = int(await conn.fetchval(_MISSING.format(due=due), event_type, start, end))
    written = [float(r[0]) for r in rows]
    published = [float(r[1]) for r in rows if r[1] is not None]
    return Lateness(
        kind=kind,
        due=n_due,
        events=len(rows),
        missing=missing,
        written=Percentiles.of(written),
        published=Percentiles.of(published) if published else None,
        unpublished=sum(1 for r in rows if r[1] is None),
        buckets=_buckets([(float(r[2]), float(r[0])) for r in rows]),
    )


async def _check(
    conn: asyncpg.Connection, run: TimerRun, seed: TimerSeed, window: float
) -> None:
    end = seed.base + timedelta(seconds=window)
    run.warnings = await _lateness(conn, "warning", "warn_due_at", seed.base, end)
    run.breaches = await _lateness(conn, "breach", "due_at", seed.base, end)
    run.duplicates = int(await conn.fetchval(_DUPLICATES))
    run.early = int(await conn.fetchval(_EARLY, SLA_WARNING_TYPE, SLA_BREACHED_TYPE))
    run.sla_events = int(
        await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", SLA_TOPIC)
    )
    w, b = run.warnings, run.breaches
    assert w.written is not None
    assert b.written is not None
    print(
        f"[sla] {run.side}: warnings {w.events:,} of {w.due:,} due (missing"
        f" {w.missing}), written late p50 {w.written.p50:.2f}s p99"
        f" {w.written.p99:.2f}s max {w.written.max:.2f}s; breaches {b.events:,} of"
        f" {b.due:,} (missing {b.missing}) p99 {b.written.p99:.2f}s; duplicates"
        f" {run.duplicates}, early {run.early}"
    )


def _cost_line(side: str, label: str, c: Cost) -> None:
    print(
        f"[sla] {side} {label}: {c.seconds:.1f}s, service {c.service_per_s:.3f}"
        f" CPU s/s, PostgreSQL {c.pg_per_s:.3f} CPU s/s; reads {c.table_reads}"
    )


def _seconds_until(at: datetime) -> float:
    return (at - datetime.now(UTC)).total_seconds()


async def _timers_service(
    server: procs.Server, database: str, config: SlaBenchConfig
) -> TimerRun:
    run = TimerRun("service")
    conn = await asyncpg.connect(procs.dsn(database))
    try:
        run.floor = await _measure(conn, server, config.floor)
        _cost_line(run.side, "empty database", run.floor)
        started = time.monotonic()
        seed = await _seed_timers(conn, config, lead=config.idle + 12.0)
        run.seed_seconds = time.monotonic() - started
        run.timers, run.groups = seed.timers, seed.counts
        print(
            f"[sla] service: {config.conversations:,} conversations, {seed.timers:,}"
            f" timers seeded with COPY in {run.seed_seconds:.1f}s; due from base in"
            f" {_seconds_until(seed.base):.1f}s"
        )
        now = datetime.now(UTC)
        run.due_plan = await _explain_due(conn, now, generic=False)
        run.due_plan_generic = await _explain_due(conn, now, generic=True)
        await asyncio.sleep(1.0)
        run.idle = await _measure(conn, server, _seconds_until(seed.base) - 0.3)
        _cost_line(run.side, "idle (nothing due)", run.idle)
        await asyncio.sleep(max(_seconds_until(seed.base), 0.0))
        run.active = await _measure(conn, server, config.window)
        _cost_line(run.side, "window", run.active)
        await asyncio.sleep(config.settle)
        await _check(conn, run, seed, config.window)
    finally:
        await conn.close()
    return run


async def _explain_stopped(database: str, run: TimerRun) -> None:
    """_DUE_WARNINGS as a round would run it with what came due in the second after the
    service stopped (rolled back)."""
    await asyncio.sleep(1.0)
    conn = await asyncpg.connect(procs.dsn(database))
    try:
        now = datetime.now(UTC)
        run.due_plan_active = await _explain_due(conn, now, generic=False)
        run.due_plan_active_generic = await _explain_due(conn, now, generic=True)
    finally:
        await conn.close()


async def _bare_round(conn: asyncpg.Connection, batch: int) -> int:
    done = 0
    for select, update, kind in (
        (_BARE_WARN, _BARE_WARNED, SLA_WARNING_TYPE),
        (_BARE_BREACH, _BARE_BREACHED, SLA_BREACHED_TYPE),
    ):
        while True:
            async with conn.transaction():
                rows = await conn.fetch(select, batch)
                if rows:
                    ids = [r[0] for r in rows]
                    metrics = [r[1] for r in rows]
                    await conn.execute(update, ids, metrics)
                    keys = [str(r[2]) for r in rows]
                    await conn.execute(_BARE_OUTBOX, ids, metrics, keys, kind)
            done += len(rows)
            if len(rows) < batch:
                break
    return done


async def _timers_bare(database: str, config: SlaBenchConfig) -> TimerRun:
    run = TimerRun("bare")
    conn = await asyncpg.connect(procs.dsn(database))
    loop_conn = await asyncpg.connect(procs.dsn(database))
    stop = asyncio.Event()
    rounds = [0]

    async def loop() -> None:
        while not stop.is_set():
            await _bare_round(loop_conn, config.batch)
            rounds[0] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), config.poll_seconds)

    try:
        started = time.monotonic()
        seed = await _seed_timers(conn, config, lead=config.idle + 12.0)
        run.seed_seconds = time.monotonic() - started
        run.timers, run.groups = seed.timers, seed.counts
        print(
            f"[sla] bare: {seed.timers:,} timers seeded in {run.seed_seconds:.1f}s;"
            f" due from base in {_seconds_until(seed.base):.1f}s"
        )
        task = asyncio.create_task(loop())
        await asyncio.sleep(1.0)
        run.idle = await _measure(conn, None, _seconds_until(seed.base) - 0.3)
        _cost_line(run.side, "idle (nothing due)", run.idle)
        await asyncio.sleep(max(_seconds_until(seed.base), 0.0))
        before = rounds[0]
        run.active = await _measure(conn, None, config.window)
        run.rounds = rounds[0] - before
        _cost_line(run.side, "window", run.active)
        await asyncio.sleep(config.settle)
        stop.set()
        await task
        await _check(conn, run, seed, config.window)
    finally:
        stop.set()
        await loop_conn.close()
        await conn.close()
    return run


# -------------------------------------------------------------- (b) the seed


def _choice(
    rng: np.random.Generator, names: tuple[str, ...], weights: tuple[float, ...], n: int
) -> list[str]:
    idx = rng.choice(len(names), size=n, p=np.array(weights) / sum(weights))
    return [names[i] for i in idx]


async def _seed_stats(
    dsn: str, config: SlaBenchConfig
) -> tuple[dict[str, int], dict[str, float]]:
    """1M conversations over `stats_days` days with their KPI facts, by COPY; the
    row counts and the seconds each phase took."""
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    rng = np.random.default_rng(2026)
    n = config.stats_conversations
    now = datetime.now(UTC).replace(microsecond=0)
    span = config.stats_days * DAY
    age = np.sort(rng.random(n) * span)[::-1]  # oldest first, as they arrived
    resolution = np.minimum(rng.lognormal(np.log(7200.0), 1.3, n), 20 * DAY)
    closed = age - resolution > 60.0  # closed at least a minute ago
    # the idle sweeper closes after 24 h without a message: older ones are closed
    closed |= age > 0.95 * DAY
    resolution = np.where(closed, np.minimum(resolution, age - 1.0), np.nan)
    queues = _choice(rng, QUEUES, QUEUE_WEIGHTS, n)
    channels = _choice(rng, CHANNELS, CHANNEL_WEIGHTS, n)
    agent = rng.integers(0, AGENTS, n)
    reopened = rng.choice(3, size=n, p=[0.95, 0.04, 0.01])
    first_rt = rng.lognormal(np.log(120.0), 1.0, n)
    has_first = rng.random(n) < 0.95
    nexts = rng.poisson(0.65, n)
    survey = rng.random(n)
    score = rng.choice(np.arange(1, 6), size=n, p=[0.05, 0.07, 0.13, 0.3, 0.45])
    rated = rng.random(n) < 0.5
    with_sla = rng.random(n) < config.sla_share
    accept_after = rng.random(n) * 55 + 5
    next_gap = rng.random((n, 3))
    next_rt = rng.lognormal(np.log(300.0), 1.0, (n, 3))
    n_open = int((~closed).sum())
    customers = _keys(rng, config.stats_customers + n_open)
    owner = rng.integers(n_open, len(customers), n)
    open_rank = np.cumsum(~closed) - 1  # open conversation k gets customer k
    ids = _keys(rng, n)
    agent_ids = [f"agent-{i:04d}" for i in range(AGENTS)]
    counts: dict[str, int] = {}

    # Python lists from here: numpy scalars are slow to index row by row
    closed, resolution, first_rt = (
        closed.tolist(),
        resolution.tolist(),
        first_rt.tolist(),
    )
    has_first, nexts, survey = has_first.tolist(), nexts.tolist(), survey.tolist()
    rated, score, with_sla = rated.tolist(), score.tolist(), with_sla.tolist()
    reopened, accept_after = reopened.tolist(), accept_after.tolist()
    next_gap, next_rt = next_gap.tolist(), next_rt.tolist()
    who_of = [agent_ids[a] for a in agent.tolist()]
    opened_at = [now - timedelta(seconds=a) for a in age.tolist()]
    # when each conversation closed, or now for an open one
    ended = [
        o + timedelta(seconds=r) if c else now
        for o, r, c in zip(opened_at, resolution, closed, strict=True)
    ]
    # a first response before the close (or before now)
    answered = [
        h and o + timedelta(seconds=f) < e
        for h, o, f, e in zip(has_first, opened_at, first_rt, ended, strict=True)
    ]
    customer_of = [
        customers[w] if c else customers[k]
        for w, k, c in zip(owner.tolist(), open_rank.tolist(), closed, strict=True)
    ]

    phases["generate (numpy, lists)"] = time.monotonic() - t0

    def conversations() -> Iterator[tuple[object, ...]]:
        for i in range(n):
            opened = opened_at[i]
            is_closed = closed[i]
            res = resolution[i] if is_closed else None
            closed_at = ended[i] if is_closed else None
            fr = first_rt[i]
            first = answered[i]
            follow, sent_at, csat, csat_at, reason = None, None, None, None, None
            if closed_at is not None and now - closed_at > timedelta(hours=2):
                if survey[i] < 0.5:
                    follow, sent_at = "sent", closed_at + timedelta(hours=1)
                    if rated[i]:
                        csat = score[i]
                        csat_at = sent_at + timedelta(minutes=20)
                elif survey[i] < 0.6:
                    follow, reason = "skipped", "window"
            yield (
                ids[i],
                customer_of[i],
                "closed" if is_closed else "open",
                [channels[i]],
                opened,
                closed_at,
                "agent" if is_closed else None,
                closed_at or now - (now - opened) / 4,  # open: recent message
                3 + nexts[i] * 2,
                queues[i],
                "normal",
                opened + timedelta(seconds=fr) if first else None,
                fr if first else None,
                channels[i],
                "standard" if with_sla[i] else None,
                reopened[i],
                res,
                res * 0.6 if res is not None else None,
                follow,
                reason,
                sent_at,
                csat,
                csat_at,
            )

    def responses() -> Iterator[tuple[object, ...]]:
        for i in range(n):
            if not answered[i]:
                continue
            opened, limit = opened_at[i], ended[i]
            who = who_of[i]
            sla = with_sla[i]
            fr = first_rt[i]
            at = opened + timedelta(seconds=fr)
            target, within = (300, fr <= 300) if sla else (None, None)
            yield (ids[i], "first", opened, at, fr, fr * 0.7, who, target, within)
            for k in range(min(nexts[i], 3)):
                awaited = at + timedelta(seconds=60 + next_gap[i][k] * 1800)
                seconds = next_rt[i][k]
                at = awaited + timedelta(seconds=seconds)
                if at >= limit:
                    break
                target, within = (900, seconds <= 900) if sla else (None, None)
                row = (ids[i], "next", awaited, at, seconds, seconds * 0.7, who)
                yield (*row, target, within)

    def log_rows() -> Iterator[tuple[object, ...]]:
        for i in range(n):
            if closed[i]:  # the agent who accepted it
                at = opened_at[i] + timedelta(seconds=accept_after[i])
                who = who_of[i]
                reason = "accepted by the agent"
                yield (ids[i], at, "accepted", who, "most_available", reason)

    def timer(
        i: int,
        metric: str,
        target: int,
        *,
        counted: float = 0.0,
        running: datetime | None = None,
        stopped: datetime | None = None,
        breached: datetime | None = None,
        due: datetime | None = None,
        warn_due: datetime | None = None,
        warned: datetime | None = None,
    ) -> tuple[object, ...]:
        opened = opened_at[i]
        published = breached
        head = (ids[i], metric, customer_of[i], "standard", target, False, 0.8)
        return (
            *head,
            opened,
            counted,
            running,
            stopped,
            breached,
            due,
            warn_due,
            warned,
            published,
        )

    def timer_rows() -> Iterator[tuple[object, ...]]:
        """Stopped timers (met or breached) for what is over; running ones, already
        warned or breached as the scheduler would have, for what is not."""
        for i in range(n):
            if not with_sla[i]:
                continue
            opened = opened_at[i]
            elapsed = (ended[i] - opened).total_seconds()
            late = opened + timedelta(seconds=300)
            warned = opened + timedelta(seconds=240)
            if answered[i]:
                fr = first_rt[i]
                yield timer(
                    i,
                    "first_response",
                    300,
                    counted=fr,
                    stopped=opened + timedelta(seconds=fr),
                    breached=late if fr > 300 else None,
                    warned=warned if fr > 240 else None,
                )
            elif closed[i]:
                yield timer(
                    i,
                    "first_response",
                    300,
                    counted=elapsed,
                    stopped=ended[i],
                    breached=late if elapsed > 300 else None,
                    warned=warned if elapsed > 240 else None,
                )
            elif elapsed > 300:  # open, unanswered, breached and published
                yield timer(
                    i,
                    "first_response",
                    300,
                    running=opened,
                    breached=late,
                    due=late,
                    warn_due=warned,
                    warned=warned,
                )
            day = timedelta(seconds=DAY)
            warn_day = timedelta(seconds=0.8 * DAY)
            if closed[i]:
                yield timer(
                    i,
                    "resolution",
                    int(DAY),
                    counted=elapsed,
                    stopped=ended[i],
                    breached=opened + day if elapsed > DAY else None,
                    warned=opened + warn_day if elapsed > 0.8 * DAY else None,
                )
            else:  # running, due within the day; warned once 80 % has passed
                warn_due = opened + warn_day
                yield timer(
                    i,
                    "resolution",
                    int(DAY),
                    running=opened,
                    due=opened + day,
                    warn_due=warn_due,
                    warned=warn_due if warn_due <= now else None,
                )

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        tables = ["customers", "conversations", "responses", "assignment_log"]
        tables.append("sla_timers")
        rebuild = await _drop_keys_and_indexes(conn, tables)
        t0 = time.monotonic()
        await conn.copy_records_to_table(
            "customers",
            columns=["id", "display_name", "created_at"],
            records=(
                (c, f"Customer {i}", now - timedelta(seconds=span))
                for i, c in enumerate(customers)
            ),
        )
        counts["customers"] = len(customers)
        t0 = _phase(phases, "COPY customers", t0)
        result = await conn.copy_records_to_table(
            "conversations",
            columns=[
                "id",
                "customer_id",
                "status",
                "channels",
                "opened_at",
                "closed_at",
                "close_reason",
                "last_message_at",
                "message_count",
                "queue",
                "priority",
                "first_response_at",
                "first_response_seconds",
                "channel",
                "sla_policy_id",
                "reopened_count",
                "resolution_seconds",
                "resolution_business_seconds",
                "follow_up_status",
                "follow_up_reason",
                "follow_up_sent_at",
                "csat_score",
                "csat_at",
            ],
            records=conversations(),
        )
        counts["conversations"] = int(result.split()[-1])
        counts["open"] = n_open
        t0 = _phase(phases, "COPY conversations", t0)
        result = await conn.copy_records_to_table(
            "responses",
            columns=[
                "conversation_id",
                "kind",
                "awaited_since",
                "answered_at",
                "seconds",
                "business_seconds",
                "agent_id",
                "target_seconds",
                "within_target",
            ],
            records=responses(),
        )
        counts["responses"] = int(result.split()[-1])
        t0 = _phase(phases, "COPY responses", t0)
        result = await conn.copy_records_to_table(
            "assignment_log",
            columns=[
                "conversation_id",
                "at",
                "outcome",
                "agent_id",
                "policy",
                "reason",
            ],
            records=log_rows(),
        )
        counts["assignment_log"] = int(result.split()[-1])
        t0 = _phase(phases, "COPY assignment_log", t0)
        result = await conn.copy_records_to_table(
            "sla_timers",
            columns=[
                "conversation_id",
                "metric",
                "customer_id",
                "policy_id",
                "target_seconds",
                "business_hours",
                "warn_at",
                "started_at",
                "counted_seconds",
                "running_since",
                "stopped_at",
                "breached_at",
                "due_at",
                "warn_due_at",
                "warned_at",
                "breach_published_at",
            ],
            records=timer_rows(),
        )
        counts["sla_timers"] = int(result.split()[-1])
        t0 = _phase(phases, "COPY sla_timers", t0)
        await _rebuild(dsn, rebuild)
        t0 = _phase(phases, "keys, indexes, foreign keys", t0)
        for table in tables:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        _phase(phases, "VACUUM ANALYZE", t0)
    finally:
        await conn.close()
    return counts, phases


def _keys(rng: np.random.Generator, n: int) -> list[str]:
    """n random 128-bit ids as hex text, which asyncpg's uuid encoder takes: several
    times faster than uuid.uuid4() objects, and (b) needs them only as keys."""
    raw = rng.bytes(16 * n).hex()
    return [raw[i : i + 32] for i in range(0, 32 * n, 32)]


async def _rebuild(dsn: str, statements: list[str]) -> None:
    """Keys and indexes on two connections at once (2 cores), then foreign keys."""
    fks = [s for s in statements if " FOREIGN KEY " in s]
    todo = [s for s in statements if s not in fks]

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET maintenance_work_mem = '256MB'")
            while todo:
                await conn.execute(todo.pop(0))
        finally:
            await conn.close()

    await asyncio.gather(worker(), worker())
    conn = await asyncpg.connect(dsn)
    try:
        for statement in fks:
            await conn.execute(statement)
    finally:
        await conn.close()


def _phase(phases: dict[str, float], name: str, since: float) -> float:
    now = time.monotonic()
    phases[name] = now - since
    return now


# ------------------------------------------------------------ (b) the bare app


_BARE_COUNT = (
    "SELECT count(*) FROM conversations WHERE opened_at >= $1 AND opened_at < $2"
)


def create_bare_app(dsn: str, pool_size: int = 4) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=pool_size, max_size=pool_size
        )
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/count")
    async def count() -> JSONResponse:
        end = datetime.now(UTC)
        start = end - timedelta(days=7)
        n = await app.state.pool.fetchval(_BARE_COUNT, start, end)
        return JSONResponse({"opened": n})

    return app


def serve_bare(argv: list[str] | None = None) -> None:
    """`python -m bench.sla --port N --dsn ...`."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.sla")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_bare_app(args.dsn),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
        server_header=False,
    )


def start_bare(name: str, database: str) -> procs.Server:
    port = procs.free_port()
    argv = [sys.executable, "-m", "bench.sla", "--port", str(port)]
    argv += ["--dsn", procs.dsn(database)]
    return procs.start_server(name, argv, procs.base_env(), port, "/healthz")


# ---------------------------------------------------------- (b) measurement


@dataclass(frozen=True)
class Scope:
    """One /v1/stats query and the same parameters for the repository's SQL."""

    label: str
    path: str
    start: datetime
    end: datetime
    queue: str | None = None
    agent_id: str | None = None


def _scopes(now: datetime) -> list[Scope]:
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return [
        Scope("7 days (default interval), no filters", "/v1/stats", week, now),
        Scope(
            "30 days, no filters",
            f"/v1/stats?from={month.strftime(stamp)}&to={now.strftime(stamp)}",
            month,
            now,
        ),
        Scope(
            "7 days, queue=support & agent_id=agent-0007",
            "/v1/stats?queue=support&agent_id=agent-0007",
            week,
            now,
            "support",
            "agent-0007",
        ),
    ]


async def _time_get(
    server: procs.Server,
    conn: asyncpg.Connection,
    label: str,
    path: str,
    config: SlaBenchConfig,
    headers: dict[str, str],
) -> tuple[HttpTiming, object]:
    """Sequential GETs (one at a time) until `stats_requests` or `stats_seconds`;
    a request that fails or times out counts with the time it took."""
    tick = os.sysconf("SC_CLK_TCK")
    requests: list[tuple[float, int]] = []
    body: object = None
    size = 0
    timeout = httpx.Timeout(config.request_timeout)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=timeout) as client:
        pg0 = await _backend_ticks(conn)
        cpu0 = server.cpu_seconds()
        deadline = time.monotonic() + config.stats_seconds
        while len(requests) < config.stats_requests and time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                r = await client.get(path, headers=headers)
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            requests.append(((time.perf_counter() - t0) * 1000, status))
            if body is None and status == 200:
                body, size = r.json(), len(r.content)
        cpu = server.cpu_seconds() - cpu0
        pg1 = await _backend_ticks(conn)
    pg = sum(t - pg0.get(pid, 0) for pid, t in pg1.items()) / tick
    n = max(len(requests), 1)
    statuses: dict[int, int] = {}
    for _, status in requests:
        statuses[status] = statuses.get(status, 0) + 1
    timing = HttpTiming(
        label,
        path,
        Percentiles.of([ms for ms, _ in requests]),
        statuses,
        1000 * cpu / n,
        1000 * pg / n,
        size,
        requests,
    )
    q = timing.latency
    print(
        f"[sla] GET {label}: n {q.count}, p50 {q.p50:.1f} ms, p99 {q.p99:.1f} ms, max"
        f" {q.max:.1f} ms, statuses {statuses}; server CPU {timing.server_cpu_ms:.1f}"
        f" ms/req, PostgreSQL CPU {timing.pg_cpu_ms:.1f} ms/req; each:"
        f" {timing.sequence}"
    )
    return timing, body


# The repository's statements and which parameters each takes (stats.py: $1-$5 the
# scope, $6 business hours, $7 the FCR window).
STATEMENTS = {
    "_CONVERSATIONS": "timed+window",
    "_RESPONSES": "timed",
    "_CSAT": "base",
    "_ATTAINMENT": "base",
    "_HANDLE": "base",
}
_TYPES = {
    "base": "timestamptz, timestamptz, text, text, text",
    "timed": "timestamptz, timestamptz, text, text, text, boolean",
    "timed+window": "timestamptz, timestamptz, text, text, text, boolean, interval",
}


def _statement_args(kind: str, scope: Scope) -> tuple[object, ...]:
    base: tuple[object, ...] = (scope.start, scope.end, scope.queue, None)
    base = (*base, scope.agent_id)
    if kind == "base":
        return base
    if kind == "timed":
        return (*base, False)
    return (*base, False, timedelta(days=7))


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, timedelta):
        return f"'{value.total_seconds():.0f} seconds'"
    return f"'{value}'"


def _exclusive(plan: dict[str, object]) -> list[tuple[str, float]]:
    """(node description, exclusive ms) of every node of an EXPLAIN ANALYZE JSON plan."""
    out: list[tuple[str, float]] = []

    def walk(node: dict[str, object]) -> float:
        loops = float(node.get("Actual Loops", 1) or 1)  # type: ignore[arg-type]
        total = float(node.get("Actual Total Time", 0.0)) * loops  # type: ignore[arg-type]
        children = node.get("Plans", []) or []
        inner = sum(walk(c) for c in children)  # type: ignore[union-attr, arg-type]
        name = str(node.get("Node Type"))
        for key in ("Relation Name", "Index Name", "CTE Name"):
            if key in node:
                name += f" {node[key]}"
        if "Actual Rows" in node:
            rows = int(float(node["Actual Rows"]) * loops)  # type: ignore[arg-type]
            name += f" (rows {rows:,}, loops {int(loops):,})"
        out.append((name, max(total - inner, 0.0)))
        return total

    walk(plan)
    return sorted(out, key=lambda x: -x[1])


async def _plan_costs(
    conn: asyncpg.Connection, name: str, scope: Scope
) -> tuple[float, float, float]:
    """(custom plan total cost, generic plan total cost, generic plan's estimate of
    the scoped conversations) of a statement prepared with the scope's parameters.
    From the 6th execution of a prepared statement on a connection PostgreSQL uses
    the generic plan when it costs less than the custom plans did on average."""
    kind = STATEMENTS[name]
    values = ", ".join(_literal(v) for v in _statement_args(kind, scope))
    ident = f"bench_{name.strip('_').lower()}"
    sql = getattr(stats_repo, name)
    await conn.execute(f"PREPARE {ident}({_TYPES[kind]}) AS {sql}")
    costs = []
    estimate = 0.0
    try:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            doc = json.loads(
                await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {ident}({values})")
            )[0]
            costs.append(float(doc["Plan"]["Total Cost"]))
            if mode == "force_generic_plan":
                estimate = _scope_rows(doc["Plan"])
                text = _plan_text(
                    await conn.fetch(f"EXPLAIN EXECUTE {ident}({values})")
                )
                path = procs.OUT / f"sla-generic-{name.strip('_').lower()}.txt"
                path.write_text(
                    f"{sql}\n\nEXPLAIN EXECUTE ({values}), generic:\n{text}\n"
                )
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute(f"DEALLOCATE {ident}")
    return costs[0], costs[1], estimate


def _scope_rows(node: dict[str, object]) -> float:
    """The planner's row estimate of the scan on ix_conversations_opened_at."""
    if node.get("Index Name") == "ix_conversations_opened_at":
        return float(node.get("Plan Rows", 0.0))  # type: ignore[arg-type]
    for child in node.get("Plans", []) or []:  # type: ignore[union-attr]
        found = _scope_rows(child)  # type: ignore[arg-type]
        if found:
            return found
    return 0.0


REPEAT_ROUNDS = 6  # PostgreSQL's plan cache: 5 custom plans, then maybe the generic
REPEAT_TIMEOUT = 10.0  # seconds, statement_timeout of the repeated rounds


async def _repeat(
    database: str, scope: Scope, rounds: int, statement_timeout: float
) -> list[dict[str, float | None]]:
    """What `Stats.compute` runs, `rounds` times on one asyncpg connection (its
    statement cache on, as the service's pool connections), with a statement
    timeout: ms per statement and round, None when the timeout cancelled it."""
    conn = await asyncpg.connect(procs.dsn(database))
    out: list[dict[str, float | None]] = []
    try:
        await conn.execute(
            f"SET statement_timeout = '{statement_timeout * 1000:.0f}ms'"
        )
        for _ in range(rounds):
            times: dict[str, float | None] = {}
            for name, kind in STATEMENTS.items():
                sql = getattr(stats_repo, name)
                t0 = time.perf_counter()
                try:
                    await conn.fetch(sql, *_statement_args(kind, scope))
                    times[name] = (time.perf_counter() - t0) * 1000
                except asyncpg.QueryCanceledError:
                    times[name] = None
            out.append(times)
            print(
                f"[sla] one connection, round {len(out)} ({scope.label}): "
                + ", ".join(
                    f"{k} {'timeout' if v is None else f'{v:.0f}'}"
                    for k, v in times.items()
                )
            )
    finally:
        await conn.close()
    return out


async def _statements(database: str, run: StatsRun, scopes: list[Scope]) -> None:
    """Each statement once per scope on a fresh connection (custom plans: fewer than
    6 executions each), the generic-plan costs, and EXPLAIN ANALYZE of the slowest
    statement of the 7-day scope."""
    for scope in scopes:
        conn = await asyncpg.connect(procs.dsn(database))
        try:
            times = {}
            for name, kind in STATEMENTS.items():
                sql = getattr(stats_repo, name)
                t0 = time.perf_counter()
                await conn.fetch(sql, *_statement_args(kind, scope))
                times[name] = (time.perf_counter() - t0) * 1000
        finally:
            await conn.close()
        run.statements[scope.label] = times
        print(
            f"[sla] statements, {scope.label} (ms, one execution each): "
            + ", ".join(f"{k} {v:.0f}" for k, v in times.items())
        )
    week = scopes[0]
    run.repeated = await _repeat(database, week, REPEAT_ROUNDS, REPEAT_TIMEOUT)
    conn = await asyncpg.connect(procs.dsn(database))
    try:
        for name in STATEMENTS:
            run.plan_costs[name] = await _plan_costs(conn, name, week)
        print(
            f"[sla] plan costs (custom, generic, generic scope rows): {run.plan_costs}"
        )
        times = run.statements[week.label]
        run.slowest = max(times, key=times.__getitem__)
        sql = getattr(stats_repo, run.slowest)
        args = _statement_args(STATEMENTS[run.slowest], week)
        raw = await conn.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args
        )
        doc = json.loads(raw)[0]
        text = _plan_text(await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args))
    finally:
        await conn.close()
    path = procs.OUT / f"sla-explain-{run.slowest.strip('_').lower()}.txt"
    path.write_text(f"{sql}\n\nparameters: {args}\n\n{text}\n")
    run.explain_path = str(path.relative_to(procs.BENCH_DIR.parent))
    run.explain_total_ms = float(doc.get("Execution Time", 0.0))
    run.explain_top = _exclusive(doc["Plan"])[:5]
    jit = doc.get("JIT")
    if jit:
        run.jit_ms = float(jit.get("Timing", {}).get("Total", 0.0))


async def _stats_measure(
    server: procs.Server,
    bare: procs.Server,
    database: str,
    config: SlaBenchConfig,
    run: StatsRun,
) -> None:
    scopes = _scopes(datetime.now(UTC))
    conn = await asyncpg.connect(procs.dsn(database))
    try:
        week = scopes[0]
        run.scoped_7d = int(await conn.fetchval(_BARE_COUNT, week.start, week.end))
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            r = await client.get("/v1/stats", headers=AUTH)  # warm-up, not counted
            run.warmup_ms = r.elapsed.total_seconds() * 1000
            run.warmup_status = r.status_code
        for scope in scopes:
            timing, body = await _time_get(
                server, conn, scope.label, scope.path, config, AUTH
            )
            run.http.append(timing)
            if not run.sample and isinstance(body, dict):
                run.sample = body
        timing, _ = await _time_get(
            bare, conn, "bare: count(*) of the 7 days", "/count", config, {}
        )
        run.http.append(timing)
    finally:
        await conn.close()
    await _statements(database, run, scopes)


# ------------------------------------------------------------------- the run


def run(stamp: str, config: SlaBenchConfig, databases: list[str]) -> SlaReport:
    report = SlaReport(config)
    logs: list[Path] = []
    with ingest.kafka_cluster(topics=TOPICS) as cluster:
        if config.timers:
            _run_timers(stamp, config, databases, cluster, report, logs)
        if config.stats:
            _run_stats(stamp, config, databases, cluster, report, logs)
    statuses: dict[str, int] = {}
    events: dict[str, int] = {}
    for path in logs:
        s, e, problems = ingest.scan_log(path)
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
        for k, v in e.items():
            events[k] = events.get(k, 0) + v
        report.problems += [f"{path.name}: {p}" for p in problems[:3]]
    report.log_statuses, report.events = statuses, events
    return report


def _database(stamp: str, part: str, databases: list[str]) -> str:
    name = f"omniroute_bench_{stamp}_sla_{part}"
    databases.append(name)
    procs.create_database(name)
    ingest.migrate(name)
    return name


def _run_timers(
    stamp: str,
    config: SlaBenchConfig,
    databases: list[str],
    cluster: MockKafkaCluster,
    report: SlaReport,
    logs: list[Path],
) -> None:
    db_timers = _database(stamp, "timers", databases)
    db_bare = _database(stamp, "bare", databases)
    service = ingest.start_service("sla-timers", db_timers, cluster.bootstrap_servers)
    logs.append(service.log_path)
    try:
        report.scheduler_leading["timers"] = procs.wait_scheduler_leading(db_timers)
        report.timers.append(_run_on_loop(_timers_service(service, db_timers, config)))
    finally:
        service.stop()
    svc = report.timers[-1]
    _run_on_loop(_explain_stopped(db_timers, svc))
    plans = procs.OUT / "sla-due-plans.txt"
    plans.write_text(
        f"{sla_repo._DUE_WARNINGS}\n\n-- nothing due, custom plan\n{svc.due_plan}\n\n"
        f"-- nothing due, generic plan\n{svc.due_plan_generic}\n\n"
        f"-- 1 s after the service stopped, custom plan\n{svc.due_plan_active}\n\n"
        f"-- 1 s after the service stopped, generic plan\n"
        f"{svc.due_plan_active_generic}\n"
    )
    procs.drop_database(db_timers)
    report.timers.append(_run_on_loop(_timers_bare(db_bare, config)))
    procs.drop_database(db_bare)


def _run_stats(
    stamp: str,
    config: SlaBenchConfig,
    databases: list[str],
    cluster: MockKafkaCluster,
    report: SlaReport,
    logs: list[Path],
) -> None:
    db_stats = _database(stamp, "stats", databases)
    stats = report.stats = StatsRun()
    started = time.monotonic()
    stats.rows, stats.seed_phases = _run_on_loop(
        _seed_stats(procs.dsn(db_stats), config)
    )
    stats.seed_seconds = time.monotonic() - started
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in stats.seed_phases.items())
    print(f"[sla] stats: seeded {stats.rows} in {stats.seed_seconds:.1f}s: {phases}")
    service = ingest.start_service("sla-stats", db_stats, cluster.bootstrap_servers)
    logs.append(service.log_path)
    bare = start_bare("sla-stats-bare", db_stats)
    try:
        report.scheduler_leading["stats"] = procs.wait_scheduler_leading(db_stats)
        _run_on_loop(_stats_measure(service, bare, db_stats, config, stats))
    finally:
        bare.stop()
        service.stop()
    procs.drop_database(db_stats)


if __name__ == "__main__":
    serve_bare()
