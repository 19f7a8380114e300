"""Reply dispatch: drain 10,000 queued SMS replies through Twilio's Messages API (a
loopback provider answering after 50 ms) vs a bare httpx loop at the same concurrency,
then p99 from accept to provider request at a steady rate under the drain capacity.

A fresh, migrated database gets one inbound SMS from each of 500 customers (the real
ingest unit of work), then 10,000 replies accepted by the real use case
(`app.replies.accept.accept`, 8 at a time, dispatcher not running): each is a queued
outbound message with its dispatch row, exactly as `POST /v1/conversations/{id}/
messages` stores it. Each reply's text carries a reference (`ref-<n>`), so the
provider can tell which reply a request is for.

- Provider: `python -m bench.dispatch --port N`, a tiny ASGI app under uvicorn in its
  own process. `POST /2010-04-01/Accounts/{sid}/Messages.json` checks the basic auth,
  records (arrival time.monotonic(), ref, sid), sleeps 50 ms and answers 201 with a
  Message resource (`"sid": "SM<32 hex>"`). `GET /records` hands over and clears what
  it recorded. CLOCK_MONOTONIC is one clock for every process on Linux, so its arrival
  times compare with this process's.
- dispatcher: the real `Dispatcher` from `app.dispatch.running_dispatcher` (the
  service's Settings: `send_concurrency` 16, send rates unlimited, its own httpx
  client, a fresh asyncpg pool of db_pool_size per round, so its PostgreSQL backends'
  CPU and the pending index's reads can be counted), in this process on uvloop as
  `omniroute serve` runs it. Timed from entering `running_dispatcher` (client,
  leadership connection and lock included) until no dispatch row is pending or
  claimed (polled every 20 ms on a separate connection).
- bare: one `httpx.AsyncClient` (the same timeout), 16 workers posting the same
  10,000 requests, built beforehand with `outbound.twilio.build` from the dispatch
  rows' Delivery values, to the same provider; timed from the first request to the
  last answer. No database.

Rounds alternate dispatcher then bare; before each dispatcher round every reply is
put back to how accept left it (`queued`, its first status_history entry, the dispatch
row pending with 0 attempts), the previous round's message events are deleted from
the outbox, and VACUUM ANALYZE. After each round the provider's records must name
every reference exactly once, and (dispatcher) every message must be `sent` with the
sid the provider gave for its request, status_history [queued, sent], 1 attempt.

Latency: a fresh dispatcher runs idle, and an open-loop generator accepts new replies
(the real `accept`, round-robin over the conversations, each in its own task) at a
fixed rate, reply i due at t0 + i/rate: a warm-up, then the measured window. Latency
is from accept's return (its transaction committed: the API would answer 202 now) to
the provider seeing the request; also given: accept's own time (from due) and
accept to `sent` stored (status_history time, wall clock).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import asyncpg
import httpx
import structlog

from app.attachment_store import AttachmentStore
from app.db import Database
from app.dispatch import Dispatcher, running_dispatcher
from app.dispatch.senders import configs
from app.events import EventConfig
from app.ingest import Ingestor, IngestPolicy, Routing
from app.metrics import Metrics
from app.replies.accept import ReplyRequest, accept
from app.rules_state import RulesHolder
from app.settings import Settings
from app.sla.timers import SlaContext
from bench import ingest, procs
from bench.ingest_requests import WORDS
from bench.latency import Percentiles
from connectors.model import Channel, IdentityClaim, IdentityKind, InboundMessage
from outbound import twilio
from outbound.model import HttpCall, delivery_from_json
from routing.language import LanguageDetector

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "bench-twilio-auth-token"
OUR_NUMBER = "+14155550000"  # the number customers write to; replies go from it
REF = re.compile(r"ref-(\d+)")
POLL_SECONDS = 0.02
_LEFT = (
    "SELECT EXISTS (SELECT 1 FROM dispatches WHERE state = 'pending')"
    " OR EXISTS (SELECT 1 FROM dispatches WHERE state = 'claimed')"
)
T = TypeVar("T")


@dataclass(frozen=True)
class DispatchBenchConfig:
    replies: int = 10_000
    rounds: int = 2
    customers: int = 500
    seed_concurrency: int = 8
    provider_delay: float = 0.05  # seconds before the provider answers
    latency_rate: float = 100.0  # replies accepted per second
    latency_seconds: float = 20.0  # measured, at that rate
    latency_warmup: float = 2.0  # same rate, not counted
    timeout: float = 300.0  # per drain


@dataclass(frozen=True)
class DrainResult:
    side: str  # dispatcher | bare
    round: int
    sends: int
    seconds: float
    loop_cpu_seconds: float  # this process's event-loop thread
    provider_cpu_seconds: float
    requests: int  # what the provider recorded
    distinct: int  # distinct references among them
    exactly_once: bool
    detail: str  # what did not match, if anything
    pg_cpu_seconds: float | None = None  # the dispatcher's PostgreSQL backends
    index_reads: int | None = None  # ix_dispatches_pending entries read

    @property
    def pg_cpu_ms_per_send(self) -> float | None:
        if self.pg_cpu_seconds is None:
            return None
        return 1000 * self.pg_cpu_seconds / max(self.sends, 1)

    @property
    def rate(self) -> float:
        return self.sends / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_send(self) -> float:
        return 1000 * self.loop_cpu_seconds / max(self.sends, 1)


@dataclass
class LatencyResult:
    rate: float
    scheduled: int = 0  # measured replies
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    to_provider: Percentiles | None = None  # accept returned -> provider request
    accept: Percentiles | None = None  # due -> accept returned
    to_sent: Percentiles | None = None  # accept returned -> sent stored (wall clock)
    lag: Percentiles | None = None  # generator: task start - due
    achieved_rate: float = 0.0
    exactly_once: bool = False
    detail: str = ""
    loop_cpu_ms: float = 0.0  # per reply: accept + dispatch in this process


@dataclass
class DispatchReport:
    config: DispatchBenchConfig
    concurrency: int = 0
    send_rate: float = 0.0
    pool_size: int = 0
    loop: str = ""
    seed_seconds: float = 0.0
    seed_rate: float = 0.0
    ingest_seconds: float = 0.0
    dispatcher: list[DrainResult] = field(default_factory=list)
    bare: list[DrainResult] = field(default_factory=list)
    latency: LatencyResult | None = None
    final_statuses: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def median(self, side: str, attr: str) -> float:
        runs = self.dispatcher if side == "dispatcher" else self.bare
        if not runs:
            return 0.0
        return float(statistics.median(getattr(r, attr) for r in runs))

    @property
    def ratio(self) -> float:
        bare = self.median("bare", "rate")
        return self.median("dispatcher", "rate") / bare if bare else 0.0


# ------------------------------------------------------------ provider server


class TwilioProvider:
    """Twilio's Create Message endpoint, answering 201 after `delay` seconds."""

    def __init__(self, delay: float, account_sid: str, auth_token: str) -> None:
        self.delay = delay
        self.account_sid = account_sid
        self.path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode())
        self.auth = b"Basic " + token
        self.records: list[tuple[float, int, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        arrived = time.monotonic()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == self.path:
            await self._create(scope, body, arrived, send)
        elif path == "/records":
            records, self.records = self.records, []
            await _answer(send, 200, {"records": records})
        elif path == "/healthz":
            await _answer(send, 200, {"ok": True})
        else:
            await _answer(send, 404, {"code": 20404, "message": "Not Found"})

    async def _create(self, scope: Any, body: bytes, arrived: float, send: Any) -> None:
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != self.auth:
            await _answer(
                send, 401, {"code": 20003, "message": "Authenticate", "status": 401}
            )
            return
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        text = form.get("Body", "")
        found = REF.search(text)
        sid = "SM" + uuid.uuid4().hex
        self.records.append((arrived, int(found[1]) if found else -1, sid))
        await asyncio.sleep(self.delay)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"{self.path.removesuffix('.json')}/{sid}.json"
        await _answer(
            send,
            201,
            {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": text,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
                "to": form.get("To"),
                "uri": uri,
            },
        )


async def _answer(send: Any, status: int, document: object) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})


def serve_provider(argv: list[str] | None = None) -> None:
    """`python -m bench.dispatch --port N [--delay 0.05]`: the provider process."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.dispatch")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args(argv)
    uvicorn.run(
        TwilioProvider(args.delay, ACCOUNT_SID, AUTH_TOKEN),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


# ---------------------------------------------------------------------- running


def run(
    stamp: str, config: DispatchBenchConfig, databases: list[str]
) -> DispatchReport:
    database = f"omniroute_bench_{stamp}_dispatch"
    databases.append(database)
    procs.create_database(database)
    ingest.migrate(database)
    port = procs.free_port()
    provider = procs.start_server(
        "dispatch-provider",
        [
            sys.executable,
            "-m",
            "bench.dispatch",
            "--port",
            str(port),
            "--delay",
            str(config.provider_delay),
        ],
        procs.base_env(),
        port,
        "/healthz",
    )
    try:
        return _run_on_loop(_run(database, provider, config))
    finally:
        provider.stop()


def _run_on_loop(main: Coroutine[Any, Any, T]) -> T:
    """On uvloop, as `omniroute serve` (uvicorn's loop="auto") runs the dispatcher."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _quiet_logs() -> None:
    """The dispatcher logs every send at info; keep only warnings and errors here."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
    )


async def _run(
    database: str, provider: procs.Server, config: DispatchBenchConfig
) -> DispatchReport:
    _quiet_logs()
    report = DispatchReport(config)
    settings = Settings(
        database_url=procs.dsn(database),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base=provider.base_url,
        dispatch_enabled=True,
    )
    report.concurrency = settings.send_concurrency
    report.send_rate = settings.send_rate_twilio
    report.pool_size = settings.db_pool_size
    report.loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    events = EventConfig(
        source=settings.public_base_url,
        routing_topic=settings.kafka_routing_topic,
        customer_topic=settings.kafka_customer_topic,
        message_topic=settings.kafka_message_topic,
    )
    db = await Database.connect(settings)
    conn = await asyncpg.connect(procs.dsn(database))
    async with httpx.AsyncClient(base_url=provider.base_url) as control:
        try:
            conversations = await _customers(db, settings, events, config, report)
            refs = await _seed(db, settings, conversations, config, report)
            calls = await _bare_calls(conn, settings)
            for i in range(1, config.rounds + 1):
                await _reset(conn, settings)
                await _records(control)  # nothing left over
                result = await _drain_dispatcher(
                    settings, events, conn, control, provider, refs, i, config
                )
                report.dispatcher.append(result)
                _line(result)
                result = await _drain_bare(calls, settings, control, provider, refs, i)
                report.bare.append(result)
                _line(result)
            report.latency = await _latency(
                settings,
                db,
                events,
                conn,
                control,
                conversations,
                first_ref=config.replies,
                config=config,
            )
            report.final_statuses = {
                status: int(n)
                for status, n in await conn.fetch(
                    "SELECT status, count(*) FROM messages"
                    " WHERE direction = 'outbound' GROUP BY status ORDER BY status"
                )
            }
        finally:
            await conn.close()
            await db.close()
    for r in [*report.dispatcher, *report.bare]:
        if not r.exactly_once:
            report.problems.append(f"{r.side} #{r.round}: {r.detail}")
    if report.latency is not None and not report.latency.exactly_once:
        report.problems.append(f"latency: {report.latency.detail}")
    return report


# ----------------------------------------------------------------------- seeding


def _text(rng: random.Random, ref: int) -> str:
    words = " ".join(rng.choices(WORDS, k=rng.randint(6, 24)))
    return f"Hi, {words}. ref-{ref}"


async def _customers(
    db: Database,
    settings: Settings,
    events: EventConfig,
    config: DispatchBenchConfig,
    report: DispatchReport,
) -> list[uuid.UUID]:
    """One inbound SMS per customer through the real ingest unit: their conversations."""
    detector = await asyncio.to_thread(LanguageDetector, settings.languages)
    rules = await asyncio.to_thread(RulesHolder, settings.routing_rules_file)
    ingestor = Ingestor(
        db,
        AttachmentStore(Path(tempfile.gettempdir()) / "omniroute-bench-attachments"),
        IngestPolicy(default_region=settings.default_phone_region),
        Routing(rules=rules, detector=detector, events=events),
    )
    started = time.perf_counter()
    numbers = random.Random(11).sample(range(2_000_000), config.customers)
    conversations: list[uuid.UUID] = []

    async def one(n: int) -> None:
        now = datetime.now(UTC)
        result = await ingestor.ingest(
            InboundMessage(
                provider="twilio",
                provider_message_id="SM" + uuid.uuid4().hex,
                channel=Channel.sms,
                sender=IdentityClaim(
                    kind=IdentityKind.phone, value=f"+1415{2_000_000 + n:07d}"
                ),
                text="Hello, where is my order? It has not arrived yet.",
                sent_at=now,
                recipient=OUR_NUMBER,
            ),
            connector="twilio",
            received_at=now,
        )
        assert result.conversation_id is not None, result
        conversations.append(result.conversation_id)

    await _pool_map(one, numbers, config.seed_concurrency)
    report.ingest_seconds = time.perf_counter() - started
    return conversations


def _sla(settings: Settings) -> SlaContext:
    """What accept needs to move SLA timers (the rules' opening hours, events)."""
    events = EventConfig(source=settings.public_base_url)
    return SlaContext(RulesHolder(settings.routing_rules_file), events, Metrics())


async def _seed(
    db: Database,
    settings: Settings,
    conversations: list[uuid.UUID],
    config: DispatchBenchConfig,
    report: DispatchReport,
) -> dict[int, uuid.UUID]:
    """`replies` replies through the real accept use case: ref -> message id."""
    rng = random.Random(7)
    sla = _sla(settings)
    texts = [_text(rng, ref) for ref in range(config.replies)]
    refs: dict[int, uuid.UUID] = {}

    async def one(ref: int) -> None:
        request = ReplyRequest(
            conversation_id=conversations[ref % len(conversations)],
            text=texts[ref],
            agent_id=f"agent-{ref % 40}",
        )
        accepted = await accept(db, request, settings, datetime.now(UTC), sla)
        refs[ref] = accepted.message.id

    started = time.perf_counter()
    await _pool_map(one, range(config.replies), config.seed_concurrency)
    report.seed_seconds = time.perf_counter() - started
    report.seed_rate = config.replies / report.seed_seconds
    print(
        f"[dispatch] {len(conversations)} customers ingested in"
        f" {report.ingest_seconds:.1f}s; {len(refs):,} replies accepted in"
        f" {report.seed_seconds:.1f}s ({report.seed_rate:,.0f}/s,"
        f" {config.seed_concurrency} at a time)"
    )
    return refs


async def _pool_map(
    work: Callable[[T], Awaitable[None]], items: Iterable[T], concurrency: int
) -> None:
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _bare_calls(conn: asyncpg.Connection, settings: Settings) -> list[HttpCall]:
    """The requests the dispatcher makes, from the same stored Delivery values."""
    config = configs(settings)[twilio.PROVIDER]
    assert isinstance(config, twilio.Config)
    calls: list[HttpCall] = []
    for (document,) in await conn.fetch(
        "SELECT delivery::text FROM dispatches ORDER BY id"
    ):
        built = twilio.build(delivery_from_json(document), config)
        assert len(built) == 1, "a bench reply is one Twilio message"
        calls.append(built[0])
    return calls


async def _reset(conn: asyncpg.Connection, settings: Settings) -> None:
    """Every reply back to how accept stored it; last round's message events gone."""
    await conn.execute(
        "UPDATE messages SET status = 'queued',"
        " status_history = jsonb_build_array(status_history->0),"
        " provider_message_id = NULL, error_code = NULL, error_message = NULL"
        " WHERE direction = 'outbound' AND status <> 'queued'"
    )
    await conn.execute(
        "UPDATE dispatches SET state = 'pending', attempts = 0, not_before = now(),"
        " claimed_at = NULL, claimed_by = NULL WHERE state <> 'pending'"
    )
    await conn.execute(
        "DELETE FROM outbox WHERE topic = $1", settings.kafka_message_topic
    )
    await conn.execute("VACUUM ANALYZE messages")
    await conn.execute("VACUUM ANALYZE dispatches")
    await conn.execute("VACUUM ANALYZE outbox")


async def _records(control: httpx.AsyncClient) -> list[tuple[float, int, str]]:
    """What the provider recorded since the last call (and forget it there)."""
    response = await control.get("/records")
    response.raise_for_status()
    return [(float(a), int(r), str(s)) for a, r, s in response.json()["records"]]


# ----------------------------------------------------------------------- drains


async def _drain_dispatcher(
    settings: Settings,
    events: EventConfig,
    conn: asyncpg.Connection,
    control: httpx.AsyncClient,
    provider: procs.Server,
    refs: dict[int, uuid.UUID],
    round_no: int,
    config: DispatchBenchConfig,
) -> DrainResult:
    # Its own pool per round, so its backends' CPU and index reads can be counted.
    db = await Database.connect(settings)
    try:
        reads = await _index_reads(conn)
        provider_cpu = provider.cpu_seconds()
        cpu = time.thread_time()
        started = time.perf_counter()
        async with running_dispatcher(settings, db, events) as dispatcher:
            assert dispatcher is not None
            task = asyncio.create_task(dispatcher.run())
            try:
                deadline = started + config.timeout
                while await conn.fetchval(_LEFT):
                    if task.done():
                        raise RuntimeError(f"dispatcher.run() ended: {task.result()!r}")
                    if time.perf_counter() > deadline:
                        raise RuntimeError(
                            f"dispatcher not done after {config.timeout:.0f}s"
                            f" (role {dispatcher.status.role})"
                        )
                    await asyncio.sleep(POLL_SECONDS)
                seconds = time.perf_counter() - started
                cpu = time.thread_time() - cpu
                pg_cpu = await _backends_cpu(conn)
            finally:
                await dispatcher.stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 15)
        provider_cpu = provider.cpu_seconds() - provider_cpu
    finally:
        await db.close()  # its backends exit and flush their statistics
    await asyncio.sleep(0.5)
    reads = await _index_reads(conn) - reads
    records = await _records(control)
    detail = _provider_detail(records, set(refs))
    detail += await _stored_detail(conn, records, refs)
    return DrainResult(
        "dispatcher",
        round_no,
        len(refs),
        seconds,
        cpu,
        provider_cpu,
        len(records),
        len({r for _, r, _ in records}),
        not detail,
        detail.strip("; "),
        pg_cpu,
        reads,
    )


async def _backends_cpu(conn: asyncpg.Connection) -> float:
    """CPU seconds so far of this database's other backends (the pool's, the lock's)."""
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return sum(_cpu_ticks(int(pid)) for (pid,) in pids) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


async def _index_reads(conn: asyncpg.Connection) -> int:
    """Entries read from the pending-dispatch index, all backends (flushed stats)."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return int(
        await conn.fetchval(
            "SELECT idx_tup_read FROM pg_stat_user_indexes"
            " WHERE indexrelname = 'ix_dispatches_pending'"
        )
    )


def _form(pairs: tuple[tuple[str, str], ...] | None) -> dict[str, list[str]] | None:
    if pairs is None:
        return None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


async def _drain_bare(
    calls: list[HttpCall],
    settings: Settings,
    control: httpx.AsyncClient,
    provider: procs.Server,
    refs: dict[int, uuid.UUID],
    round_no: int,
) -> DrainResult:
    statuses: Counter[int] = Counter()
    # Bodies encoded before the clock, as the requests were built before it.
    prepared = [
        (c.method, c.url, list(c.headers), _form(c.form), c.auth) for c in calls
    ]
    timeout = httpx.Timeout(settings.send_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout) as client:
        queue = iter(prepared)

        async def worker() -> None:
            for method, url, headers, data, auth in queue:
                response = await client.request(
                    method, url, headers=headers, data=data, auth=auth
                )
                statuses[response.status_code] += 1

        provider_cpu = provider.cpu_seconds()
        cpu = time.thread_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(settings.send_concurrency)))
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - cpu
        provider_cpu = provider.cpu_seconds() - provider_cpu
    records = await _records(control)
    detail = _provider_detail(records, set(refs))
    if statuses != Counter({201: len(calls)}):
        detail += f"; answers {dict(statuses)}"
    return DrainResult(
        "bare",
        round_no,
        len(calls),
        seconds,
        cpu,
        provider_cpu,
        len(records),
        len({r for _, r, _ in records}),
        not detail,
        detail.strip("; "),
    )


def _provider_detail(records: list[tuple[float, int, str]], expected: set[int]) -> str:
    """'' when the provider saw each expected reference exactly once, else what not."""
    seen = Counter(r for _, r, _ in records)
    twice = sum(1 for n in seen.values() if n > 1)
    missing = len(expected - seen.keys())
    foreign = len(seen.keys() - expected)
    if not (twice or missing or foreign):
        return ""
    return (
        f"provider saw {len(records):,} requests: {missing} references missing,"
        f" {twice} more than once, {foreign} not expected"
    )


async def _stored_detail(
    conn: asyncpg.Connection,
    records: list[tuple[float, int, str]],
    refs: dict[int, uuid.UUID],
) -> str:
    """'' when every reply is sent once with the sid the provider gave its request."""
    sid_of = {refs[r]: sid for _, r, sid in records if r in refs}
    rows = await conn.fetch(
        "SELECT m.id, m.status, m.provider_message_id,"
        " jsonb_array_length(m.status_history) AS history, d.state, d.attempts"
        " FROM messages m JOIN dispatches d ON d.message_id = m.id"
        " WHERE m.id = ANY($1::uuid[])",
        list(refs.values()),
    )
    bad = Counter[str]()
    for row in rows:
        if row["status"] != "sent":
            bad[f"status {row['status']}"] += 1
        elif row["provider_message_id"] != sid_of.get(row["id"]):
            bad["sid differs from the provider's"] += 1
        if row["history"] != 2:
            bad["status_history not [queued, sent]"] += 1
        if (row["state"], row["attempts"]) != ("done", 1):
            bad[f"dispatch {row['state']} after {row['attempts']} attempts"] += 1
    if len(rows) != len(refs):
        bad["rows missing"] += len(refs) - len(rows)
    return "".join(f"; {k}: {v}" for k, v in bad.items())


# ---------------------------------------------------------------------- latency


@dataclass
class _Reply:
    ref: int
    conversation: uuid.UUID
    measured: bool
    due: float = 0.0
    started: float = 0.0
    accepted: float = 0.0  # monotonic, when accept returned
    accepted_wall: float = 0.0
    message_id: uuid.UUID | None = None
    error: str | None = None


async def _latency(
    settings: Settings,
    db: Database,
    events: EventConfig,
    conn: asyncpg.Connection,
    control: httpx.AsyncClient,
    conversations: list[uuid.UUID],
    *,
    first_ref: int,
    config: DispatchBenchConfig,
) -> LatencyResult:
    rate = config.latency_rate
    result = LatencyResult(rate)
    sla = SlaContext(RulesHolder(settings.routing_rules_file), events, Metrics())
    warm = round(config.latency_warmup * rate)
    total = warm + round(config.latency_seconds * rate)
    rng = random.Random(13)
    replies = [
        _Reply(first_ref + i, conversations[i % len(conversations)], i >= warm)
        for i in range(total)
    ]
    texts = [_text(rng, r.ref) for r in replies]
    await _records(control)
    errors: Counter[str] = Counter()

    async def fire(reply: _Reply, text: str) -> None:
        reply.started = time.monotonic()
        try:
            accepted = await accept(
                db,
                ReplyRequest(conversation_id=reply.conversation, text=text),
                settings,
                datetime.now(UTC),
                sla,
            )
        except Exception as error:  # counted and reported
            reply.error = type(error).__name__
            errors[reply.error] += 1
            return
        reply.accepted = time.monotonic()
        reply.accepted_wall = time.time()
        reply.message_id = accepted.message.id

    async with running_dispatcher(settings, db, events) as dispatcher:
        assert dispatcher is not None
        task = asyncio.create_task(dispatcher.run())
        try:
            await _until(_leading(dispatcher), 10, "the dispatcher never led")
            tasks: list[asyncio.Task[None]] = []
            t0 = time.monotonic() + 0.1
            cpu = 0.0
            for i, (reply, text) in enumerate(zip(replies, texts, strict=True)):
                reply.due = t0 + i / rate
                if i == warm:
                    cpu = time.thread_time()
                delay = reply.due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(fire(reply, text)))
            await asyncio.wait(tasks, timeout=60)
            await _until(_drained(conn), config.timeout, "sends still pending")
            cpu = time.thread_time() - cpu
        finally:
            await dispatcher.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)
    records = await _records(control)
    arrived = {r: at for at, r, _ in records}
    measured = [r for r in replies if r.measured]
    ok = [r for r in measured if r.message_id is not None]
    result.scheduled = len(measured)
    result.accepted = len(ok)
    result.errors = dict(errors)
    result.loop_cpu_ms = 1000 * cpu / max(len(measured), 1)
    ms = 1000.0
    result.to_provider = Percentiles.of(
        [(arrived[r.ref] - r.accepted) * ms for r in ok if r.ref in arrived]
    )
    result.accept = Percentiles.of([(r.accepted - r.due) * ms for r in ok])
    result.lag = Percentiles.of([(r.started - r.due) * ms for r in measured])
    window = measured[-1].due - measured[0].due + 1 / rate if measured else 1.0
    result.achieved_rate = len(ok) / window
    sent_at = {
        row["id"]: row["at"].timestamp()
        for row in await conn.fetch(
            "SELECT id, (status_history->1->>'at')::timestamptz AS at FROM messages"
            " WHERE id = ANY($1::uuid[]) AND status = 'sent'",
            [r.message_id for r in ok],
        )
    }
    result.to_sent = Percentiles.of(
        [
            (sent_at[r.message_id] - r.accepted_wall) * ms
            for r in ok
            if r.message_id in sent_at
        ]
    )
    refs = {r.ref: r.message_id for r in replies if r.message_id is not None}
    detail = _provider_detail(records, set(refs))
    detail += await _stored_detail(conn, records, refs)
    if errors:
        detail += f"; accept errors {dict(errors)}"
    result.exactly_once = not detail
    result.detail = detail.strip("; ")
    p = result.to_provider
    print(
        f"[dispatch] latency at {rate:.0f}/s: {result.accepted:,} of"
        f" {result.scheduled:,} accepted; accept -> provider p50 {p.p50:.1f} ms"
        f" p99 {p.p99:.1f} ms max {p.max:.1f} ms; accept p99"
        f" {result.accept.p99:.1f} ms; generator lag p99 {result.lag.p99:.1f} ms;"
        f" exactly once: {result.exactly_once} {result.detail}"
    )
    return result


def _leading(dispatcher: Dispatcher) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return dispatcher.status.role == "leader"

    return check


def _drained(conn: asyncpg.Connection) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not await conn.fetchval(_LEFT)

    return check


async def _until(
    done: Callable[[], Awaitable[bool]], seconds: float, what: str
) -> None:
    deadline = time.perf_counter() + seconds
    while not await done():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} after {seconds:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


def _line(r: DrainResult) -> None:
    extra = ""
    if r.pg_cpu_ms_per_send is not None and r.index_reads is not None:
        extra = (
            f" pg {r.pg_cpu_ms_per_send:.2f}; pending-index entries read/send"
            f" {r.index_reads / r.sends:,.0f}"
        )
    print(
        f"[dispatch] {r.side:10} round {r.round}: {r.rate:7,.1f} sends/s"
        f"  {r.seconds:6.2f}s  CPU ms/send: loop {r.cpu_ms_per_send:.2f}{extra}"
        f"  provider saw {r.requests:,} ({r.distinct:,} distinct)"
        f"  exactly once: {r.exactly_once} {r.detail}"
    )


if __name__ == "__main__":
    serve_provider()
