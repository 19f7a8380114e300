"""Part (c): timeline and lookup reads against 1M seeded messages."""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote

import asyncpg
import phonenumbers

from app.desk.timeline import encode_cursor
from bench import ingest, procs
from bench.requests_file import render, write
from bench.seed import Seeded, seed


@dataclass(frozen=True)
class ReadConfig:
    seconds: float = 10.0
    warmup: float = 2.0
    connections: int = 8
    threads: int = 1
    customers: int = 100_000
    messages: int = 1_000_000
    big: int = 100_000
    deep: int = 90_000
    lookups: int = 5_000
    baseline: bool = True


@dataclass
class ReadReport:
    config: ReadConfig
    seed_seconds: float = 0.0
    results: dict[str, procs.WrkResult] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    peak_rss_kib: int = 0
    events: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    explain: dict[str, str] = field(default_factory=dict)


def _get(url: str, path: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url + path, headers={"Authorization": f"Bearer {ingest.API_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


async def _cursor_at(dsn: str, customer: object, depth: int) -> str:
    """The API cursor of the message `depth` rows down the customer's timeline."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT sent_at, id FROM messages WHERE customer_id = $1"
            " ORDER BY sent_at DESC, id DESC OFFSET $2 LIMIT 1",
            customer,
            depth - 1,
        )
    finally:
        await conn.close()
    return encode_cursor(row["sent_at"], row["id"])


_PAGE = (
    "SELECT id, customer_id, conversation_id, channel, direction, provider,"
    " provider_message_id, content_type, sender_kind, sender_value, sender_name,"
    " subject, text, full_text, sent_at, received_at, in_reply_to FROM messages"
    " WHERE customer_id = $1 {cursor} ORDER BY sent_at DESC, id DESC LIMIT 51"
)


async def _explain(dsn: str, customer: object, depth: int) -> dict[str, str]:
    """The database's own time for the two timeline pages (EXPLAIN ANALYZE, warm)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT sent_at, id FROM messages WHERE customer_id = $1"
            " ORDER BY sent_at DESC, id DESC OFFSET $2 LIMIT 1",
            customer,
            depth - 1,
        )
        queries = {
            "first page": (_PAGE.format(cursor=""), (customer,)),
            "deep page": (
                _PAGE.format(cursor="AND (sent_at, id) < ($2, $3)"),
                (customer, row["sent_at"], row["id"]),
            ),
        }
        found = {}
        for label, (sql, args) in queries.items():
            for _ in range(3):  # warm the cache; keep the last
                plan = await conn.fetchval(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args
                )
            top = json.loads(plan)[0]
            node = top["Plan"]
            while node.get("Plans") and node["Node Type"] == "Limit":
                node = node["Plans"][0]
            found[label] = (
                f"{top['Execution Time']:.2f} ms, {node['Node Type']}"
                f" on {node.get('Index Name', node.get('Relation Name', '?'))}"
            )
    finally:
        await conn.close()
    return found


def national(e164: str) -> str:
    number = phonenumbers.parse(e164)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def run(stamp: str, config: ReadConfig, databases: list[str]) -> ReadReport:
    report = ReadReport(config)
    database = f"omniroute_bench_{stamp}_read"
    databases.append(database)
    procs.create_database(database)
    ingest.migrate(database)
    print(
        f"[reads] seeding {config.messages:,} messages / {config.customers:,} customers"
    )
    started = time.monotonic()
    seeded: Seeded = asyncio.run(
        seed(
            procs.dsn(database),
            customers=config.customers,
            messages=config.messages,
            big=config.big,
        )
    )
    report.seed_seconds = time.monotonic() - started
    print(f"[reads] seeded in {report.seed_seconds:.1f}s")
    cursor = asyncio.run(
        _cursor_at(procs.dsn(database), seeded.big_customer, config.deep)
    )
    big = seeded.big_customer
    report.explain = asyncio.run(_explain(procs.dsn(database), big, config.deep))
    rng = random.Random(5)
    lookup_paths = [
        "/v1/customers?phone=" + quote(national(seeded.phones[i]), safe="")
        for i in rng.sample(range(1, config.customers), config.lookups)
    ]
    paths = {
        "timeline first page": [f"/v1/customers/{big}/timeline?limit=50"],
        f"timeline page ~{config.deep:,} deep": [
            f"/v1/customers/{big}/timeline?limit=50&before={cursor}"
        ],
        "customer by phone (national format)": lookup_paths,
    }

    with ingest.kafka_cluster() as cluster:
        service = ingest.start_service(
            "read-service", database, cluster.bootstrap_servers
        )
        try:
            _check(report, service.base_url, paths, seeded)
            auth = {"Authorization": f"Bearer {ingest.API_TOKEN}"}
            host = f"127.0.0.1:{service.port}"
            for n, (label, targets) in enumerate(paths.items()):
                file = procs.OUT / f"read-{n}.reqs"
                write(file, [render("GET", p, host, auth) for p in targets])
                report.results[label] = _measure(f"read-{n}", service, file, config)
            report.peak_rss_kib = service.peak_rss_kib()
        finally:
            service.stop()
    report.statuses, report.events, report.problems = ingest.scan_log(service.log_path)

    if config.baseline:
        baseline = ingest.start_baseline("read-baseline", database)
        try:
            file = procs.OUT / "read-baseline.reqs"
            host = f"127.0.0.1:{baseline.port}"
            write(file, [render("GET", f"/timeline/{big}?limit=50", host)])
            report.results["baseline: first-page SQL, bare asyncpg app"] = _measure(
                "read-baseline", baseline, file, config
            )
        finally:
            baseline.stop()
    return report


def _measure(
    label: str, server: procs.Server, file: Path, config: ReadConfig
) -> procs.WrkResult:
    run = partial(
        procs.wrk,
        url=server.base_url,
        requests_file=file,
        connections=config.connections,
        threads=config.threads,
    )
    run(label + "-warmup", seconds=config.warmup)
    result = server.measure(partial(run, label, seconds=config.seconds))
    print(
        f"[reads] {label}: {result.rps:7.0f} req/s  p50 {result.p50_ms:6.2f} ms"
        f"  p99 {result.p99_ms:6.2f} ms  non-2xx {result.non2xx}"
        f"  server CPU {result.server_cpu_ms or 0:.2f} ms/req"
    )
    return result


def _check(
    report: ReadReport, url: str, paths: dict[str, list[str]], seeded: Seeded
) -> None:
    """One request per endpoint before measuring: status and shape must be right."""
    for label, targets in paths.items():
        status, body = _get(url, targets[0])
        items = body.get("items")
        count = len(items) if isinstance(items, list) else -1
        expected = 1 if "phone" in label else 50
        report.checks[label] = f"HTTP {status}, {count} items"
        if status != 200 or count != expected:
            raise RuntimeError(f"{label}: {targets[0]} -> {status} {str(body)[:500]}")
    lookup = paths["customer by phone (national format)"][0]
    status, body = _get(url, lookup)
    items = body["items"]
    assert isinstance(items, list)
    found = items[0]["identities"][0]["value"]
    if found not in seeded.phones:
        raise RuntimeError(f"lookup {lookup} found {found}, not a seeded phone")
