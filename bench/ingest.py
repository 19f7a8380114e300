"""Part (a) and (b): mixed signed webhooks into the real service vs the bare baseline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from app.migrate import upgrade
from bench import procs
from bench.ingest_requests import Secrets, Workload, make_pool, rendered, twilio_only
from bench.requests_file import write
from devtools.mock_kafka import MockKafkaCluster
from devtools.payloads import SignedRequest

SECRETS = Secrets(
    twilio="bench-twilio-auth-token",
    meta="bench-meta-app-secret",
    chat="bench-chat-webhook-secret",
    email="bench-email-webhook-secret",
)
API_TOKEN = "bench-api-token"
BIN = Path(sys.executable).parent
ROUTING_TOPIC = "omniroute.routing.decisions"  # the service's defaults
CUSTOMER_TOPIC = "omniroute.customers"
TOPIC_PARTITIONS = 6


@contextlib.contextmanager
def kafka_cluster(
    brokers: int = 1, topics: tuple[str, ...] = (ROUTING_TOPIC, CUSTOMER_TOPIC)
) -> Iterator[MockKafkaCluster]:
    """librdkafka's mock cluster in this process with the topics the service publishes
    to (`omniroute serve` refuses to start without OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS)."""
    with MockKafkaCluster(brokers) as cluster:
        for topic in topics:
            cluster.create_topic(topic, TOPIC_PARTITIONS)
        yield cluster


@dataclass(frozen=True)
class IngestConfig:
    seconds: float = 20.0
    warmup: float = 8.0
    rounds: int = 3
    connections: int = 32
    phones: int = 1500
    emails: int = 300
    visitors: int = 500
    warmup_requests: int = 20_000
    baseline_requests: int = 100_000  # it wraps harmlessly: no dedupe there


@dataclass
class IngestReport:
    config: IngestConfig
    service: list[procs.WrkResult] = field(default_factory=list)
    baseline: list[procs.WrkResult] = field(default_factory=list)
    service_warmup: procs.WrkResult | None = None
    baseline_warmup: procs.WrkResult | None = None
    prime_statuses: dict[int, int] = field(default_factory=dict)
    mix: dict[str, int] = field(default_factory=dict)
    peak_rss_kib: int = 0
    stored_messages: int = 0
    customers: int = 0
    conversations: int = 0
    baseline_rows: int = 0
    access_statuses: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # warning/error log lines
    exit_code: int | None = None

    def median(self, side: str, attr: str) -> float:
        runs = self.service if side == "service" else self.baseline
        return float(statistics.median(getattr(r, attr) for r in runs))

    def _service_runs(self) -> list[procs.WrkResult]:
        return self.service + ([self.service_warmup] if self.service_warmup else [])

    @property
    def service_2xx_sent(self) -> int:
        """2xx answers counted by the clients: priming plus every wrk run."""
        primed = sum(v for k, v in self.prime_statuses.items() if 200 <= k < 300)
        return primed + sum(r.ok for r in self._service_runs())

    @property
    def service_non2xx(self) -> int:
        primed = sum(v for k, v in self.prime_statuses.items() if not 200 <= k < 300)
        return primed + sum(r.non2xx for r in self._service_runs())

    @property
    def service_wraps(self) -> int:
        return sum(r.wraps for r in self._service_runs())


def service_env(database: str, port: int, kafka: str) -> dict[str, str]:
    env = procs.base_env()
    env.update(
        OMNIROUTE_DATABASE_URL=procs.dsn(database),
        OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS=kafka,
        OMNIROUTE_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        OMNIROUTE_API_TOKENS=API_TOKEN,
        OMNIROUTE_TWILIO_AUTH_TOKEN=SECRETS.twilio,
        OMNIROUTE_META_APP_SECRET=SECRETS.meta,
        OMNIROUTE_META_VERIFY_TOKEN="bench-meta-verify-token",
        OMNIROUTE_MAILGUN_SIGNING_KEY="bench-mailgun-signing-key",
        OMNIROUTE_EMAIL_WEBHOOK_SECRET=SECRETS.email,
        OMNIROUTE_CHAT_WEBHOOK_SECRET=SECRETS.chat,
        OMNIROUTE_LOG_FORMAT="json",
        OMNIROUTE_ATTACHMENT_DIR=str(procs.OUT / "attachments"),
    )
    return env


def start_service(
    name: str, database: str, kafka: str, port: int | None = None
) -> procs.Server:
    """`omniroute serve` on `port` (the port the webhooks were signed for: Twilio),
    publishing to the Kafka at `kafka` (bootstrap servers)."""
    port = port or procs.free_port()
    return procs.start_server(
        name,
        [str(BIN / "omniroute"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        service_env(database, port, kafka),
        port,
        "/healthz",
    )


def start_baseline(name: str, database: str, port: int | None = None) -> procs.Server:
    port = port or procs.free_port()
    argv = [sys.executable, "-m", "bench.baseline_app", "--port", str(port)]
    argv += ["--dsn", procs.dsn(database)]
    return procs.start_server(name, argv, procs.base_env(), port, "/healthz")


def migrate(database: str) -> None:
    upgrade(make_url(procs.dsn(database)).set(drivername="postgresql+asyncpg"))


def run(stamp: str, config: IngestConfig, databases: list[str]) -> IngestReport:
    with kafka_cluster() as cluster:
        return _run(stamp, config, databases, cluster)


def _run(
    stamp: str,
    config: IngestConfig,
    databases: list[str],
    cluster: MockKafkaCluster,
) -> IngestReport:
    report = IngestReport(config)
    db_service = f"omniroute_bench_{stamp}_ingest"
    db_baseline = f"omniroute_bench_{stamp}_baseline"
    for name in (db_service, db_baseline):
        databases.append(name)
        procs.create_database(name)
    migrate(db_service)

    service_port = procs.free_port()
    baseline_port = procs.free_port()
    host = f"127.0.0.1:{service_port}"
    pool = make_pool(random.Random(42), config.phones, config.emails, config.visitors)
    load = Workload(f"http://{host}", SECRETS, pool, seed=1)
    first_contacts = list(load.first_contacts())
    stream = Stream(load, host, procs.OUT / "ingest-service.reqs")
    stream.ensure(config.warmup_requests)
    base_file = procs.OUT / "baseline.reqs"
    write(
        base_file,
        twilio_only(
            f"http://127.0.0.1:{baseline_port}",
            SECRETS.twilio,
            pool,
            config.baseline_requests,
        ),
    )

    service = start_service(
        "ingest-service", db_service, cluster.bootstrap_servers, service_port
    )
    baseline = None
    try:
        baseline = start_baseline("ingest-baseline", db_baseline, baseline_port)
        s_url, b_url = service.base_url, baseline.base_url
        conns = config.connections
        print(
            f"[ingest] first contact from each of {len(first_contacts):,} pool senders"
        )
        report.prime_statuses = asyncio.run(
            prime(s_url, first_contacts, config.connections)
        )
        print(f"[ingest] warm-up {config.warmup:.0f}s each: {report.prime_statuses}")
        report.service_warmup = service.measure(
            partial(stream.run, "ingest-service-warmup", s_url, config.warmup, conns)
        )
        base_run = partial(
            procs.wrk, url=b_url, requests_file=base_file, connections=conns
        )
        report.baseline_warmup = baseline.measure(
            partial(base_run, "ingest-baseline-warmup", seconds=config.warmup)
        )
        base_pos = report.baseline_warmup.sent
        rate = max(report.service_warmup.rps, 200.0)
        for i in range(1, config.rounds + 1):
            stream.ensure(math.ceil(rate * config.seconds * 1.5) + 2000)
            time.sleep(1)
            result = service.measure(
                partial(stream.run, f"ingest-service-{i}", s_url, config.seconds, conns)
            )
            report.service.append(result)
            rate = max(rate, result.rps)
            _line("service", i, result)
            time.sleep(1)
            start = base_pos % config.baseline_requests
            result = baseline.measure(
                partial(
                    base_run,
                    f"ingest-baseline-{i}",
                    seconds=config.seconds,
                    start=start,
                )
            )
            base_pos += result.sent
            report.baseline.append(result)
            _line("baseline", i, result)
        report.peak_rss_kib = service.peak_rss_kib()
    finally:
        report.exit_code = service.stop()
        if baseline is not None:
            baseline.stop()

    report.mix = dict(load.kinds)
    count = _counter(db_service)
    report.stored_messages = count("messages")
    report.customers = count("customers")
    report.conversations = count("conversations")
    report.baseline_rows = _counter(db_baseline)("baseline_messages")
    statuses, events, problems = scan_log(service.log_path)
    report.access_statuses, report.events, report.problems = statuses, events, problems
    return report


def _counter(database: str) -> Callable[[str], int]:
    def count(table: str) -> int:
        return int(str(procs.fetchval(database, f"SELECT count(*) FROM {table}")))

    return count


class Stream:
    """The service's requests as one stream: each wrk run continues where the last
    stopped, so no request is sent twice unless a run outruns what was generated."""

    def __init__(self, load: Workload, host: str, path: Path) -> None:
        self._load = load
        self._host = host
        self._path = path
        self._pending: list[bytes] = []

    def ensure(self, n: int) -> None:
        missing = n - len(self._pending)
        if missing > 0:
            self._pending += [
                rendered(r, self._host) for r in self._load.requests(missing)
            ]

    def run(
        self, label: str, url: str, seconds: float, connections: int
    ) -> procs.WrkResult:
        write(self._path, self._pending)
        result = procs.wrk(
            label, url, self._path, seconds=seconds, connections=connections
        )
        del self._pending[: result.sent]
        return result


async def prime(
    url: str, requests: list[SignedRequest], concurrency: int
) -> dict[int, int]:
    """Send the first contacts (not measured); returns the count per status code."""
    statuses: Counter[int] = Counter()
    queue = iter(requests)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def worker() -> None:
            for request in queue:
                response = await client.post(
                    request.path, content=request.body, headers=request.headers
                )
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return dict(statuses)


def _line(side: str, i: int, r: procs.WrkResult) -> None:
    print(
        f"[ingest] {side:8} round {i}: {r.rps:8.0f} req/s  p50 {r.p50_ms:6.2f} ms"
        f"  p99 {r.p99_ms:7.2f} ms  non-2xx {r.non2xx}  wraps {r.wraps}"
        f"  server CPU {r.server_cpu_ms or 0:.2f} ms/req"
    )


_ACCESS = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})'
)


def scan_log(path: Path) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Statuses of /webhooks and /v1 responses, other event counts, and the first
    warning/error lines. Statuses come from the service's own `http.request` lines
    when it writes them, else from uvicorn access lines (it can write both for one
    request: counting both would double the figures)."""
    statuses: Counter[str] = Counter()
    uvicorn_statuses: Counter[str] = Counter()
    events: Counter[str] = Counter()
    problems: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if line.strip():
                    events["(not json)"] += 1
                    if len(problems) < 20:
                        problems.append(line.strip()[:500])
                continue
            event = str(record.get("event", ""))
            if event == "http.request":  # the service's own access line
                if str(record.get("path", "")).startswith(("/webhooks/", "/v1/")):
                    statuses[str(record.get("status"))] += 1
                continue
            access = _ACCESS.search(event)
            if access:
                if access["path"].startswith(("/webhooks/", "/v1/")):
                    uvicorn_statuses[access["status"]] += 1
                continue
            key = event
            if event == "webhook.rejected":
                key += f" {record.get('connector')} {record.get('reason')} {record.get('status')}"
            elif record.get("exception"):
                key += " " + str(record["exception"]).strip().splitlines()[-1][:120]
            events[key] += 1
            if (
                record.get("level") in ("warning", "error", "critical")
                and len(problems) < 20
            ):
                problems.append(line.strip()[:500])
    return dict(statuses or uvicorn_statuses), dict(events), problems
