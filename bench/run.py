"""`python -m bench.run`: ingest vs bare baseline, reads, relay throughput vs a bare
Kafka producer, end-to-end latency at a fixed rate, and reply dispatch vs a bare httpx
loop; figures to bench/RESULTS.md.

Needs wrk (`apt-get install -y wrk`; ingest and reads only) and PostgreSQL at
127.0.0.1:5432 (user postgres, trust auth). Kafka is librdkafka's mock cluster, in
this process. Creates and drops databases named omniroute_bench_*; generated files,
wrk outputs and server logs go to bench/out/.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import dispatch, ingest, latency, procs, reads, relay

RESULTS = procs.BENCH_DIR / "RESULTS.md"
MB = 1024.0  # KiB per MiB
GOAL_RPS_RATIO = 0.5
GOAL_P99_RATIO = 2.0
GOAL_RSS_MB = 250
GOAL_READ_P99_MS = 10.0
GOAL_RELAY_RATIO = 0.7
GOAL_E2E_P99_MS = 150.0
GOAL_DISPATCH_RATIO = 0.8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="per ingest run")
    parser.add_argument("--warmup", type=float, default=8.0, help="ingest warm-up")
    parser.add_argument("--rounds", type=int, default=3, help="service/baseline pairs")
    parser.add_argument("--read-seconds", type=float, default=10.0)
    parser.add_argument(
        "--relay-rows", type=int, default=100_000, help="outbox rows to drain"
    )
    parser.add_argument("--relay-rounds", type=int, default=3, help="relay/bare pairs")
    parser.add_argument(
        "--relay-profile",
        action="store_true",
        help="one extra, unmeasured relay run under py-spy with per-phase timers",
    )
    parser.add_argument("--latency-rate", type=float, default=300.0, help="webhooks/s")
    parser.add_argument(
        "--latency-seconds", type=float, default=60.0, help="measured, at that rate"
    )
    parser.add_argument(
        "--dispatch-replies", type=int, default=10_000, help="queued replies to drain"
    )
    parser.add_argument(
        "--dispatch-rounds", type=int, default=2, help="dispatcher/bare pairs"
    )
    parser.add_argument(
        "--dispatch-rate",
        type=float,
        default=100.0,
        help="replies accepted/s while measuring accept -> provider latency",
    )
    parser.add_argument(
        "--dispatch-seconds", type=float, default=20.0, help="measured, at that rate"
    )
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-dispatch", action="store_true")
    parser.add_argument(
        "--no-results", action="store_true", help="do not append to bench/RESULTS.md"
    )
    args = parser.parse_args(argv)
    needs_wrk = not (args.skip_ingest and args.skip_reads)
    if needs_wrk and shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2

    command = " ".join(
        ["python -m bench.run", *(sys.argv[1:] if argv is None else argv)]
    )
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    procs.OUT.mkdir(parents=True, exist_ok=True)
    databases: list[str] = []
    ingest_report = read_report = relay_report = latency_report = None
    dispatch_report = None
    try:
        if not args.skip_ingest:
            ingest_report = ingest.run(
                stamp,
                ingest.IngestConfig(
                    seconds=args.seconds, warmup=args.warmup, rounds=args.rounds
                ),
                databases,
            )
        if not args.skip_reads:
            read_report = reads.run(
                stamp, reads.ReadConfig(seconds=args.read_seconds), databases
            )
        if not args.skip_relay:
            relay_report = relay.run(
                stamp,
                relay.RelayBenchConfig(
                    rows=args.relay_rows,
                    rounds=args.relay_rounds,
                    profile=args.relay_profile,
                ),
                databases,
            )
        if not args.skip_latency:
            latency_report = latency.run(
                stamp,
                latency.LatencyConfig(
                    rate=args.latency_rate, seconds=args.latency_seconds
                ),
                databases,
            )
        if not args.skip_dispatch:
            dispatch_report = dispatch.run(
                stamp,
                dispatch.DispatchBenchConfig(
                    replies=args.dispatch_replies,
                    rounds=args.dispatch_rounds,
                    latency_rate=args.dispatch_rate,
                    latency_seconds=args.dispatch_seconds,
                ),
                databases,
            )
    finally:
        for name in databases:
            try:
                procs.drop_database(name)
            except Exception as error:  # report, keep dropping the others
                print(f"bench: could not drop {name}: {error}", file=sys.stderr)
    elapsed = time.monotonic() - started
    text = render(
        command,
        elapsed,
        ingest_report,
        read_report,
        relay_report,
        latency_report,
        dispatch_report,
    )
    print()
    print(text)
    if not args.no_results:
        fresh = not RESULTS.exists() or RESULTS.stat().st_size == 0
        with RESULTS.open("a", encoding="utf-8") as handle:
            if fresh:
                handle.write(
                    "# Benchmark results\n\nAppended by `python -m bench.run`"
                    " (see bench/README.md).\n"
                )
            handle.write("\n" + text)
        print(f"(appended to {RESULTS.relative_to(procs.BENCH_DIR.parent)})")
    return 0


def _machine() -> list[str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    pg = str(procs.fetchval("postgres", "SELECT version()")).split(" on ")[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=procs.BENCH_DIR.parent,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
        cwd=procs.BENCH_DIR.parent,
    ).stdout.strip()
    wrk_version = "wrk not installed"
    if shutil.which("wrk"):
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        wrk_version = (wrk.stdout + wrk.stderr).split("[")[0].strip()
    return [
        f"- machine: nproc {os.cpu_count()}, {cpu}, {mem_kib / MB / MB:.0f} GiB RAM,"
        f" {platform.system()} {platform.release()}",
        f"- {pg}; Python {platform.python_version()}; {wrk_version}",
        f"- commit {commit or '?'}" + (" with uncommitted changes" if dirty else ""),
        "- service: `omniroute serve` (1 uvicorn worker, JSON logs to a file);"
        " baseline: `python -m bench.baseline_app` (1 uvicorn worker, no logs);"
        " wrk, the servers and PostgreSQL share the same cores",
    ]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def render(
    command: str,
    elapsed: float,
    ing: ingest.IngestReport | None,
    rd: reads.ReadReport | None,
    rl: relay.RelayReport | None = None,
    lt: latency.LatencyReport | None = None,
    dp: dispatch.DispatchReport | None = None,
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"## {now}: `{command}`", "", *_machine(), f"- run took {elapsed:.0f} s", ""]
    if ing is not None:
        out += _render_ingest(ing)
    if rd is not None:
        out += _render_reads(rd)
    if rl is not None:
        out += _render_relay(rl)
    if lt is not None:
        out += _render_latency(lt)
    if dp is not None:
        out += _render_dispatch(dp)
    return "\n".join(out) + "\n"


def _row(name: str, r: procs.WrkResult) -> str:
    return (
        f"| {name} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.0f}"
        f" | {r.requests:,} | {r.non2xx} | {r.socket_errors + r.timeouts} | {r.wraps}"
        f" | {_cpu(r)} |"
    )


def _cpu(r: procs.WrkResult) -> str:
    return "-" if r.server_cpu_ms is None else f"{r.server_cpu_ms:.2f}"


def _render_ingest(ing: ingest.IngestReport) -> list[str]:
    c = ing.config
    s_rps, b_rps = ing.median("service", "rps"), ing.median("baseline", "rps")
    s_p99, b_p99 = ing.median("service", "p99_ms"), ing.median("baseline", "p99_ms")
    s_p50, b_p50 = ing.median("service", "p50_ms"), ing.median("baseline", "p50_ms")
    s_cpu = ing.median("service", "server_cpu_ms")
    b_cpu = ing.median("baseline", "server_cpu_ms")
    rps_ratio = s_rps / b_rps if b_rps else 0.0
    p99_ratio = s_p99 / b_p99 if b_p99 else 0.0
    rss_mb = ing.peak_rss_kib / MB
    total = sum(ing.mix.values()) or 1
    mix = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(ing.mix.items()))
    access_2xx = sum(v for k, v in ing.access_statuses.items() if k.startswith("2"))
    access_other = {
        k: v for k, v in ing.access_statuses.items() if not k.startswith("2")
    }
    lines = [
        "### Ingest: signed mixed-channel webhooks vs bare baseline",
        "",
        f"wrk -t1 -c{c.connections} -d{c.seconds:.0f}s --latency, {c.rounds} rounds"
        f" alternating service/baseline after a {c.warmup:.0f} s warm-up each;"
        " figures are medians of the rounds. Closed loop: p99 is understated when the"
        " server stalls (coordinated omission). `wraps` = requests re-sent because a"
        " run outran its request file (harmless for the baseline, which does not"
        " deduplicate).",
        f"Generated mix: {mix}; pool {c.phones} phones + {c.emails} email senders +"
        f" {c.visitors} chat visitors, 3 % new senders, every message id new.",
        "",
        "| run | req/s | p50 ms | p99 ms | max ms | responses | non-2xx"
        " | socket err/timeouts | wraps | server CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (s, b) in enumerate(zip(ing.service, ing.baseline, strict=True), 1):
        lines += [_row(f"service #{i}", s), _row(f"baseline #{i}", b)]
    lines += [
        "",
        "| median | req/s | p50 ms | p99 ms | server CPU ms/req |",
        "|---|---|---|---|---|",
        f"| service | {s_rps:,.0f} | {s_p50:.1f} | {s_p99:.1f} | {s_cpu:.2f} |",
        f"| baseline | {b_rps:,.0f} | {b_p50:.1f} | {b_p99:.1f} | {b_cpu:.2f} |",
        "",
        f"- throughput service/baseline: **{rps_ratio:.2f}x** (goal >= {GOAL_RPS_RATIO}x:"
        f" {_verdict(rps_ratio >= GOAL_RPS_RATIO)})",
        f"- p99 service/baseline: **{p99_ratio:.2f}x** (goal <= {GOAL_P99_RATIO}x:"
        f" {_verdict(p99_ratio <= GOAL_P99_RATIO)})",
        f"- service peak RSS (VmHWM, process tree): **{rss_mb:.0f} MB** (goal <"
        f" {GOAL_RSS_MB} MB: {_verdict(rss_mb < GOAL_RSS_MB)})",
        f"- stored messages (SQL count) {ing.stored_messages:,}; 2xx answers counted by"
        f" the clients {ing.service_2xx_sent:,} (first contacts + warm-up + rounds;"
        f" wrk does not count requests in flight when it stops); 2xx in the service's"
        f" access log {access_2xx:,}; non-2xx seen by the clients"
        f" {ing.service_non2xx}; wrapped (re-sent) requests {ing.service_wraps}",
        f"- customers {ing.customers:,}, conversations {ing.conversations:,};"
        f" baseline rows {ing.baseline_rows:,}",
    ]
    if access_other:
        lines.append(f"- non-2xx in the service's access log: {access_other}")
    noted = {
        k: v
        for k, v in ing.events.items()
        if k.startswith(("webhook.rejected", "request.", "database."))
    }
    if noted:
        lines.append(f"- service log events: {noted}")
    if ing.problems:
        lines.append(
            f"- first warning/error log line (of {len(ing.problems)} kept, see"
            f" bench/out/ingest-service.log): `{_short(ing.problems[0])}`"
        )
    lines.append("")
    return lines


def _short(line: str) -> str:
    return line.replace("`", "'")[:300]


def _render_reads(rd: reads.ReadReport) -> list[str]:
    c = rd.config
    lines = [
        "### Reads: 1,000,000 messages, 100,000 customers (one with 100,000)",
        "",
        f"Seeded with COPY in {rd.seed_seconds:.0f} s, then VACUUM ANALYZE."
        f" wrk -t{c.threads} -c{c.connections} -d{c.seconds:.0f}s --latency after a"
        f" {c.warmup:.0f} s warm-up; goal p99 < {GOAL_READ_P99_MS:.0f} ms at"
        f" {c.connections} concurrent clients. wrk keeps the server saturated, so"
        f" latency is about {c.connections} x the server's time per request: the goal"
        f" needs roughly <= {GOAL_READ_P99_MS / c.connections:.1f} ms of server CPU"
        " per read.",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | max ms | responses | non-2xx"
        " | server CPU ms/req | goal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rd.results.items():
        goal = (
            "-"
            if label.startswith("baseline")
            else _verdict(r.p99_ms < GOAL_READ_P99_MS and r.non2xx == 0)
        )
        lines.append(
            f"| {label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
            f" {r.max_ms:.0f} | {r.requests:,} | {r.non2xx} | {_cpu(r)} | {goal} |"
        )
    lines += [
        "",
        f"- read service peak RSS (VmHWM): {rd.peak_rss_kib / MB:.0f} MB",
        f"- the same SQL in PostgreSQL alone (EXPLAIN ANALYZE): {rd.explain}",
        f"- checks before measuring: {rd.checks}",
    ]
    other = {k: v for k, v in rd.statuses.items() if not k.startswith("2")}
    if other:
        lines.append(f"- non-2xx in the read service's access log: {other}")
    if rd.problems:
        lines.append(f"- first warning/error log line: `{_short(rd.problems[0])}`")
    lines.append("")
    return lines


def _render_relay(rl: relay.RelayReport) -> list[str]:
    c = rl.config
    r_rate, b_rate = rl.median("relay", "rate"), rl.median("bare", "rate")
    r_cpu = rl.median("relay", "cpu_us_per_event")
    b_cpu = rl.median("bare", "cpu_us_per_event")
    ratio = r_rate / b_rate if b_rate else 0.0
    producer = ", ".join(f"{k}={v}" for k, v in rl.producer.items())
    queues = ", ".join(
        f"{k} {v / max(c.rows, 1):.0%}"
        for k, v in sorted(rl.queues.items(), key=lambda kv: -kv[1])
    )
    lines = [
        f"### Relay throughput: {c.rows:,} outbox rows to Kafka, relay vs bare producer",
        "",
        f"Outbox of a fresh database filled by COPY in {rl.fill_seconds:.1f} s with"
        f" routing-decision CloudEvents from app/events.py (decisions of the real"
        f" engine over routing/rules.example.yaml; {rl.keys:,} customer keys; average"
        f" payload {rl.payload_bytes_avg:.0f} B; queues: {queues}). Kafka: librdkafka"
        f" mock cluster in the bench process, {c.brokers} broker(s), a fresh"
        f" {c.partitions}-partition topic per run. **relay** = the real `Relay` from"
        f" `make_relay` (`relay.run()`, batch size **{rl.batch_size}**), timed from"
        " start (connect, lock, producer start included) until its published counter"
        " reaches the row count; outbox reset with `UPDATE ... published_at = NULL`"
        " + VACUUM ANALYZE before each run. **bare** = `AIOKafkaProducer` with the"
        f" relay's settings ({producer}, same header), the same keys and payload"
        " bytes read from the database beforehand; timed from the first `send` to"
        f" the last acknowledgement. {c.rounds} rounds, relay then bare; medians."
        " Loop CPU = CPU time of the thread running the event loop (the mock"
        " broker's threads excluded).",
        "",
        "| run | events/s | seconds | loop CPU us/event | records on topic"
        " | partitions used |",
        "|---|---|---|---|---|---|",
    ]
    for r in [x for pair in zip(rl.relay, rl.bare, strict=True) for x in pair]:
        lines.append(
            f"| {r.side} #{r.round} | {r.rate:,.0f} | {r.seconds:.2f}"
            f" | {r.cpu_us_per_event:.1f} | {r.on_topic:,} | {r.partitions_used} |"
        )
    lines += [
        "",
        "| median | events/s | loop CPU us/event |",
        "|---|---|---|",
        f"| relay | {r_rate:,.0f} | {r_cpu:.1f} |",
        f"| bare producer | {b_rate:,.0f} | {b_cpu:.1f} |",
        "",
        f"- relay/bare: **{ratio:.2f}x** (goal >= {GOAL_RELAY_RATIO}x:"
        f" {_verdict(ratio >= GOAL_RELAY_RATIO)})",
        f"- relay batch size (OMNIROUTE_RELAY_BATCH_SIZE): {rl.batch_size};"
        f" unpublished outbox rows after each relay run: {rl.pending_after}",
    ]
    if rl.problems:
        lines.append(f"- problems: {'; '.join(rl.problems)}")
    if rl.profile is not None:
        lines += _render_profile(rl.profile)
    lines.append("")
    return lines


def _render_profile(pf: relay.Profile) -> list[str]:
    r = pf.result
    phases = ", ".join(
        f"{k} {v:.2f} s ({v / r.seconds:.0%})" for k, v in pf.phases.items()
    )
    frames = "; ".join(f"{name} {share:.0%}" for name, share in pf.frames)
    return [
        f"- profiled extra relay run (not in the medians): {r.rate:,.0f} events/s,"
        f" {r.seconds:.2f} s, {pf.batches} batches. Wall time by phase: {phases}.",
        f"- py-spy ({pf.path}): event loop on CPU {pf.busy:.0%} of the run; inclusive"
        f" share of those samples: {frames}",
    ]


def _pct_row(name: str, p: latency.Percentiles | None) -> str:
    if p is None or not p.count:
        return f"| {name} | - | - | - | - | - | 0 |"
    return (
        f"| {name} | {p.p50:.1f} | {p.p90:.1f} | {p.p99:.1f} | {p.p999:.1f}"
        f" | {p.max:.1f} | {p.count:,} |"
    )


def _render_latency(lt: latency.LatencyReport) -> list[str]:
    c = lt.config
    total = sum(lt.mix.values()) or 1
    mix = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(lt.mix.items()))
    non2xx = {k: v for k, v in lt.statuses.items() if not 200 <= k < 300}
    e2e_p99 = lt.e2e.p99 if lt.e2e and lt.e2e.count else math.inf
    equal = lt.measured_2xx_events_equal
    lines = [
        f"### End-to-end latency: {c.rate:.0f} webhooks/s open loop, webhook to"
        " decision consumed from Kafka",
        "",
        f"`omniroute serve` (1 uvicorn worker, relay inside, default rules file) on a"
        f" fresh database, Kafka = librdkafka mock cluster in the bench process."
        f" After one first contact per pool sender (unmeasured) and a drained outbox,"
        f" signed mixed-channel webhooks ({mix}) are sent open loop: request i is due"
        f" at t0 + i/{c.rate:.0f}, {c.warmup:.0f} s warm-up then {c.seconds:.0f} s"
        " measured, all latencies from the due time (no coordinated omission). Raw"
        f" asyncio HTTP/1.1 client, up to {c.max_connections} keep-alive connections."
        " An aiokafka consumer (no group, all partitions, from the end,"
        f" fetch_max_wait_ms={c.fetch_max_wait_ms}) stamps each record on receipt;"
        " events are matched to webhooks by decision id (messages JOIN decisions"
        " after the run).",
        "",
        "| ms | p50 | p90 | p99 | p99.9 | max | n |",
        "|---|---|---|---|---|---|---|",
        _pct_row("**decision consumed** (e2e, from due)", lt.e2e),
        _pct_row("webhook response (from due)", lt.webhook),
        _pct_row("webhook response (from request written)", lt.service),
        _pct_row("relay leg (consumed - response)", lt.relay),
        _pct_row("generator lag (task start - due)", lt.lag),
        "",
        f"- e2e p99: **{e2e_p99:.0f} ms** (goal < {GOAL_E2E_P99_MS:.0f} ms:"
        f" {_verdict(e2e_p99 < GOAL_E2E_P99_MS)}); webhook p50"
        f" {lt.webhook.p50 if lt.webhook else math.nan:.1f} ms, p99"
        f" {lt.webhook.p99 if lt.webhook else math.nan:.1f} ms",
        f"- measured webhooks {lt.scheduled:,}: 2xx {lt.ok:,}, non-2xx/errors"
        f" {non2xx or 0}{f' {lt.errors}' if lt.errors else ''}; 2xx answered at"
        f" {lt.achieved_rate:.0f}/s; last answer {lt.send_window_seconds:.1f} s"
        f" after the first was due",
        f"- events: decisions of 2xx webhooks consumed {lt.events_matched:,} of"
        f" {lt.ok:,} ({'equal: PASS' if equal else 'NOT equal: FAIL'}); missing"
        f" {lt.missing}, 2xx without a decision row {lt.unmapped}, duplicates"
        f" {lt.duplicates}, consumed ids not in this run's decisions"
        f" {lt.unknown_events}; records read (warm-up + measured)"
        f" {lt.events_consumed:,}",
        f"- service CPU {lt.service_cpu_ms:.2f} ms/message (x {c.rate:.0f}/s ="
        f" {lt.service_cpu_ms * c.rate / 1000:.2f} cores of its one event loop);"
        f" generator + consumer loop CPU {lt.loop_cpu_ms:.2f} ms/message;"
        f" connections opened {lt.connections_opened:,}, max in flight"
        f" {lt.max_in_flight}",
        f"- outbox backlog: max {lt.max_outbox_pending:,} pending (sampled every"
        f" 0.5 s), {lt.pending_after} after the run; readyz before the run:"
        f" {lt.readyz}",
    ]
    if lt.missing_examples:
        lines.append(f"- first provider ids without an event: {lt.missing_examples}")
    other = {k: v for k, v in lt.log_statuses.items() if not k.startswith("2")}
    if other:
        lines.append(f"- non-2xx in the service's access log: {other}")
    noted = {
        k: v
        for k, v in lt.events.items()
        if k.startswith(("webhook.rejected", "request.", "database.", "relay."))
    }
    if noted:
        lines.append(f"- service log events: {noted}")
    if lt.problems:
        lines.append(
            f"- first warning/error log line (of {len(lt.problems)} kept, see"
            f" bench/out/latency-service.log): `{_short(lt.problems[0])}`"
        )
    lines.append("")
    return lines


def _render_dispatch(dp: dispatch.DispatchReport) -> list[str]:
    c = dp.config
    d_rate, b_rate = dp.median("dispatcher", "rate"), dp.median("bare", "rate")
    d_cpu = dp.median("dispatcher", "cpu_ms_per_send")
    b_cpu = dp.median("bare", "cpu_ms_per_send")
    ceiling = dp.concurrency / c.provider_delay
    rate = "unlimited" if not dp.send_rate else f"{dp.send_rate:g}/s"
    lines = [
        f"### Reply dispatch: {c.replies:,} queued SMS replies to Twilio's Messages API"
        f" ({c.provider_delay * 1000:.0f} ms answers), dispatcher vs bare httpx loop",
        "",
        f"Fresh database: {c.customers} customers with one inbound SMS each (the real"
        f" ingest unit), then {c.replies:,} replies accepted by the real"
        f" `app.replies.accept.accept` ({c.seed_concurrency} at a time, dispatcher not"
        f" running: {dp.seed_rate:,.0f} accepts/s). Provider: a Twilio-shaped ASGI app"
        f" under uvicorn in its own process on loopback; it records each request's"
        f" arrival and the reply's reference (in `Body`) and answers 201"
        f' `{{"sid": "SM..."}}` after {c.provider_delay * 1000:.0f} ms.'
        f" **dispatcher** = the real `Dispatcher` from `running_dispatcher` with the"
        f" service's settings (send_concurrency {dp.concurrency}, Twilio send rate"
        f" {rate}, db_pool_size {dp.pool_size}), in the bench process on {dp.loop};"
        " timed from start (client, leadership lock) until no dispatch row is pending"
        " or claimed (polled every 20 ms). **bare** = one httpx.AsyncClient, the same"
        f" {dp.concurrency} requests in flight, the same requests (built beforehand"
        " with `outbound.twilio.build` from the stored Delivery values), first request"
        f" to last answer, no database. At most {ceiling:,.0f} sends/s"
        f" ({dp.concurrency} / {c.provider_delay:g} s). {c.rounds} rounds, dispatcher"
        " then bare; before each dispatcher round every reply is put back as accept"
        " stored it (queued, dispatch pending, 0 attempts) + VACUUM ANALYZE; medians."
        " Loop CPU = the bench's event-loop thread; PostgreSQL CPU = the dispatcher's"
        " backends (its own pool per round, and its lock connection); pending-index"
        " entries = `idx_tup_read` of `ix_dispatches_pending`; requests in flight ="
        f" requests x {c.provider_delay * 1000:.0f} ms / run time (16 would be every"
        " slot always waiting on the provider).",
        "",
        "| run | sends/s | seconds | mean requests in flight at the provider"
        " | loop CPU ms/send | PostgreSQL CPU ms/send | pending-index entries"
        " read/send | provider CPU ms/req | provider requests (distinct)"
        " | exactly once |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in [x for pair in zip(dp.dispatcher, dp.bare, strict=True) for x in pair]:
        pg = "-" if r.pg_cpu_ms_per_send is None else f"{r.pg_cpu_ms_per_send:.2f}"
        reads = "-" if r.index_reads is None else f"{r.index_reads / r.sends:,.0f}"
        in_flight = r.requests * c.provider_delay / r.seconds if r.seconds else 0.0
        lines.append(
            f"| {r.side} #{r.round} | {r.rate:,.1f} | {r.seconds:.2f}"
            f" | {in_flight:.1f} | {r.cpu_ms_per_send:.2f} | {pg} | {reads}"
            f" | {1000 * r.provider_cpu_seconds / max(r.requests, 1):.2f}"
            f" | {r.requests:,} ({r.distinct:,}) | {_verdict(r.exactly_once)} |"
        )
    ratio = dp.ratio
    lines += [
        "",
        "| median | sends/s | loop CPU ms/send |",
        "|---|---|---|",
        f"| dispatcher | {d_rate:,.1f} | {d_cpu:.2f} |",
        f"| bare httpx loop | {b_rate:,.1f} | {b_cpu:.2f} |",
        "",
        f"- dispatcher/bare: **{ratio:.2f}x** (goal >= {GOAL_DISPATCH_RATIO}x:"
        f" {_verdict(ratio >= GOAL_DISPATCH_RATIO)})",
        "- exactly once (dispatcher rounds: the provider saw every reference once, and"
        " every message is `sent` with the sid answered for its request, history"
        " [queued, sent], 1 attempt):"
        f" {_verdict(all(r.exactly_once for r in dp.dispatcher))}; outbound messages"
        f" by status at the end: {dp.final_statuses}",
    ]
    lt = dp.latency
    if lt is not None:
        lines += [
            "",
            f"Latency: a fresh dispatcher, idle, while replies are accepted open loop at"
            f" {lt.rate:.0f}/s ({lt.rate / max(d_rate, 1):.0%} of the measured drain"
            f" rate), reply i due at t0 + i/{lt.rate:.0f}, each accept in its own task"
            f" in the bench process (which the dispatcher shares, as in `omniroute"
            f" serve`), round-robin over the {c.customers} conversations;"
            f" {c.latency_warmup:.0f} s warm-up, then {c.latency_seconds:.0f} s"
            " measured. From accept's return (transaction committed: the API's 202)"
            " to the provider's arrival stamp, one monotonic clock.",
            "",
            "| ms | p50 | p90 | p99 | p99.9 | max | n |",
            "|---|---|---|---|---|---|---|",
            _pct_row("**accept -> provider request**", lt.to_provider),
            _pct_row("accept -> sent stored (wall clock)", lt.to_sent),
            _pct_row("accept itself (due -> returned)", lt.accept),
            _pct_row("generator lag (task start - due)", lt.lag),
            "",
            f"- accept -> provider p99: **{_p99(lt.to_provider)} ms**; accepted"
            f" {lt.accepted:,} of {lt.scheduled:,} at {lt.achieved_rate:.0f}/s"
            f"{f', errors {lt.errors}' if lt.errors else ''}; bench-process loop CPU"
            f" {lt.loop_cpu_ms:.2f} ms/reply (accept + dispatch)",
            f"- exactly once (latency replies): {_verdict(lt.exactly_once)}",
        ]
    if dp.problems:
        lines.append(f"- problems: {'; '.join(dp.problems)}")
    lines.append("")
    return lines


def _p99(p: latency.Percentiles | None) -> str:
    return "-" if p is None or not p.count else f"{p.p99:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
