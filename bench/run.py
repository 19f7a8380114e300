"""`python -m bench.run`: ingest vs bare baseline, reads, relay throughput vs a bare
Kafka producer, end-to-end latency at a fixed rate, reply dispatch vs a bare httpx
loop, and assignment (webhook -> SSE offer latency, backlog drain) vs bare
equivalents; figures to bench/RESULTS.md.

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

from bench import assignment, dispatch, ingest, latency, procs, reads, relay, sla

RESULTS = procs.BENCH_DIR / "RESULTS.md"
MB = 1024.0  # KiB per MiB
GOAL_RPS_RATIO = 0.5
GOAL_P99_RATIO = 2.0
GOAL_RSS_MB = 250
GOAL_READ_P99_MS = 10.0
GOAL_RELAY_RATIO = 0.7
GOAL_E2E_P99_MS = 150.0
GOAL_DISPATCH_RATIO = 0.8
GOAL_OFFER_P99_MS = 100.0
GOAL_DRAIN_RATE = 1000.0
GOAL_SLA_WARN_P99_S = 5.0
GOAL_STATS_P99_MS = 200.0
PARTS = ("ingest", "reads", "relay", "latency", "dispatch", "assignment", "sla")


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
    parser.add_argument(
        "--assignment-rate",
        type=float,
        default=100.0,
        help="new conversations/s while measuring webhook -> SSE offer latency",
    )
    parser.add_argument(
        "--assignment-seconds", type=float, default=25.0, help="measured, at that rate"
    )
    parser.add_argument(
        "--assignment-agents", type=int, default=200, help="agents with an SSE stream"
    )
    parser.add_argument(
        "--drain-conversations", type=int, default=10_000, help="waiting to drain"
    )
    parser.add_argument(
        "--drain-agents", type=int, default=500, help="agents set available"
    )
    parser.add_argument(
        "--drain-rounds", type=int, default=2, help="service (offers)/bare pairs"
    )
    parser.add_argument(
        "--sla-conversations",
        type=int,
        default=100_000,
        help="open conversations with running SLA timers (2 each)",
    )
    parser.add_argument(
        "--sla-window", type=float, default=60.0, help="measured seconds, timers"
    )
    parser.add_argument(
        "--stats-conversations",
        type=int,
        default=1_000_000,
        help="conversations over 90 days for GET /v1/stats",
    )
    parser.add_argument(
        "--stats-seconds",
        type=float,
        default=12.0,
        help="per /v1/stats query: no request starts after this",
    )
    parser.add_argument(
        "--sla-only",
        choices=("timers", "stats"),
        help="run only (a) timers or (b) stats of the sla part",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable); the others are skipped",
    )
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-dispatch", action="store_true")
    parser.add_argument("--skip-assignment", action="store_true")
    parser.add_argument("--skip-sla", action="store_true")
    parser.add_argument(
        "--no-results", action="store_true", help="do not append to bench/RESULTS.md"
    )
    args = parser.parse_args(argv)
    if args.only:
        for part in PARTS:
            if part not in args.only:
                setattr(args, f"skip_{part}", True)
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
    dispatch_report = assignment_report = sla_report = None
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
        if not args.skip_assignment:
            assignment_report = assignment.run(
                stamp,
                assignment.AssignmentBenchConfig(
                    agents=args.assignment_agents,
                    rate=args.assignment_rate,
                    seconds=args.assignment_seconds,
                    drain_conversations=args.drain_conversations,
                    drain_agents=args.drain_agents,
                    drain_rounds=args.drain_rounds,
                ),
                databases,
            )
        if not args.skip_sla:
            sla_report = sla.run(
                stamp,
                sla.SlaBenchConfig(
                    conversations=args.sla_conversations,
                    window=args.sla_window,
                    stats_conversations=args.stats_conversations,
                    stats_customers=max(args.stats_conversations * 29 // 100, 1),
                    stats_seconds=args.stats_seconds,
                    timers=args.sla_only != "stats",
                    stats=args.sla_only != "timers",
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
        assignment_report,
        sla_report,
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
    asg: assignment.AssignmentReport | None = None,
    sl: sla.SlaReport | None = None,
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
    if asg is not None:
        out += _render_assignment(asg)
    if sl is not None:
        out += _render_sla(sl)
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


def _render_assignment(asg: assignment.AssignmentReport) -> list[str]:
    c = asg.config
    svc, bare = asg.side("service"), asg.side("bare")
    leading = ", ".join(
        f"{k} {'yes' if v else 'NO'}" for k, v in asg.scheduler_leading.items()
    )
    lines = [
        f"### Assignment (a): webhook committed -> `offer` on the agent's SSE stream,"
        f" {c.rate:.0f} new conversations/s, {c.agents} agents streaming",
        "",
        f"`omniroute serve` (1 uvicorn worker; scheduler inside, leading: {leading};"
        " relay to the mock Kafka) on a fresh database with a rules file whose"
        " `queues:` block sends everything to `support` (most_available, offers"
        " never time out in the run, away_on_timeout false). "
        f"{c.agents} agents created and set available over the API, chat capacity"
        f" {c.capacity} each, each with an open `GET /v1/agents/{{id}}/events`"
        " (text/event-stream); one asyncio client reads all the streams (raw HTTP/1.1,"
        " chunked + SSE parsing) and stamps each event when read. Open loop: signed"
        " chat webhook i, from a new visitor (new customer, new conversation), is due"
        f" at t0 + i/{c.rate:.0f}; {c.warmup:.0f} s warm-up, then {c.seconds:.0f} s"
        " measured. **Committed = the webhook's 200 arriving at the client** (the"
        " service answers after its transaction commits); offer = the `offer` event"
        " read on whichever stream it came; matched after the run by"
        " `messages.provider_message_id -> conversation_id`. Offers stay pending (no"
        " one answers them). **bare** = `python -m bench.assignment` (FastAPI +"
        " uvicorn, 1 worker, asyncpg, the same sse-starlette response): one INSERT +"
        " pg_notify with the event as payload per webhook, agents round robin, one"
        " LISTEN connection fanning out to the streams; no signature, customer,"
        " conversation, choice or re-read. Same client, schedule and agent count.",
        "",
        "| ms | p50 | p90 | p99 | p99.9 | max | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in (svc, bare):
        if r is None:
            continue
        lines += [
            _pct_row(f"**{r.side}: webhook answered -> offer read**", r.to_offer),
            _pct_row(f"{r.side}: offer read, from due", r.from_due),
            _pct_row(f"{r.side}: webhook answered, from due", r.webhook),
            _pct_row(f"{r.side}: generator lag (task start - due)", r.lag),
        ]
    lines.append("")
    if svc is not None and svc.to_offer is not None and svc.to_offer.count:
        p99 = svc.to_offer.p99
        lines.append(
            f"- service webhook answered -> offer p99: **{p99:.1f} ms** (goal <"
            f" {GOAL_OFFER_P99_MS:.0f} ms: {_verdict(p99 < GOAL_OFFER_P99_MS)});"
            f" p50 {svc.to_offer.p50:.1f} ms"
        )
        if bare is not None and bare.from_due is not None and bare.from_due.count:
            assert svc.from_due is not None
            assert bare.to_offer is not None
            lines.append(
                f"- service/bare, offer read from due (the bare's answered -> offer is"
                f" about 0: its NOTIFY can reach the stream before its response does,"
                f" p50 {bare.to_offer.p50:.1f} ms, p99 {bare.to_offer.p99:.1f} ms):"
                f" p50 {svc.from_due.p50 / bare.from_due.p50:.1f}x, p99"
                f" **{svc.from_due.p99 / bare.from_due.p99:.1f}x** (service"
                f" {svc.from_due.p50:.1f} / {svc.from_due.p99:.1f} ms, bare"
                f" {bare.from_due.p50:.1f} / {bare.from_due.p99:.1f} ms)"
            )
        for r in (svc, bare):
            if r is not None and r.windows:
                cells = ", ".join(
                    f"{start:.0f}-{start + assignment.WINDOW_SECONDS:.0f} s"
                    f" {p50:.0f}/{p99:.0f}"
                    for start, p50, p99, _ in r.windows
                )
                lines.append(
                    f"- {r.side}, answered -> offer p50/p99 ms by"
                    f" {assignment.WINDOW_SECONDS:.0f} s window of the measured"
                    f" period: {cells}"
                )
    for r in (svc, bare):
        if r is None:
            continue
        other = {k: v for k, v in r.statuses.items() if not 200 <= k < 300}
        lines.append(
            f"- {r.side}: offered {c.rate:.0f}/s, achieved {r.achieved_rate:.1f}/s"
            f" (2xx {r.ok:,} of {r.scheduled:,} measured"
            f"{f', non-2xx/errors {other} {r.errors}' if other else ''}); offers"
            f" delivered {r.offer_rate:.1f}/s; matched {r.matched:,}, missing"
            f" {r.missing}, unmapped {r.unmapped}, duplicates {r.duplicates}, unknown"
            f" {r.unknown}; SSE events read {r.kinds}; streams {r.streams_open} open,"
            f" {r.streams_lost} closed by the server; distinct agents per offer"
            f" {r.agents_per_offer:.2f}; server CPU {r.server_cpu_ms:.2f} ms per"
            f" conversation (x {c.rate:.0f}/s = {r.server_cpu_ms * c.rate / 1000:.2f}"
            f" cores); client loop CPU {r.loop_cpu_ms:.2f} ms per conversation"
        )
    if svc is not None and svc.invariants is not None:
        lines.append(
            f"- after (a): {_invariants(svc.invariants)}. The checks (SQL, each a"
            f" count of violations): {_checks()}"
        )
    lines.append("")
    lines += _render_drain(asg)
    if asg.problems:
        lines.append(f"- problems: {'; '.join(_short(p) for p in asg.problems[:5])}")
    noted = {
        k: v
        for k, v in asg.events.items()
        if k.startswith(("request.", "database.", "scheduler.", "sse.", "relay."))
    }
    if noted:
        lines.append(f"- service log events: {noted}")
    log_non2xx = {k: v for k, v in asg.log_statuses.items() if not k.startswith("2")}
    if log_non2xx:
        lines.append(f"- non-2xx in the services' access logs: {log_non2xx}")
    lines.append("")
    return lines


def _invariants(inv: assignment.Invariants) -> str:
    bad = {k: v for k, v in inv.checks.items() if v}
    detail = "every check 0" if not bad else f"violations {bad}"
    return (
        f"capacity/single-holder invariant **{_verdict(inv.ok)}** ({detail}); held"
        f" {inv.held:,}, pending offers {inv.pending_offers:,}"
    )


def _checks() -> str:
    return "; ".join(assignment.INVARIANT_CHECKS)


def _render_drain(asg: assignment.AssignmentReport) -> list[str]:
    c = asg.config
    offers, bare = asg.drain_median("offers"), asg.drain_median("bare")
    auto = asg.drain_median("auto_accept")
    sql = asg.drain_median("offers_sql_agents")
    ratio = offers / bare if bare else 0.0
    lines = [
        f"### Assignment (b): drain {c.drain_conversations:,} waiting conversations"
        f" when {c.drain_agents} agents come online",
        "",
        f"Fresh database; {c.drain_agents} agents created over the API (offline, chat"
        f" capacity {c.drain_capacity}: {c.drain_agents * c.drain_capacity:,} >="
        f" {c.drain_conversations:,}); {c.drain_conversations:,} waiting conversations"
        f" in `support` (a customer each) written with COPY in {asg.seed_seconds:.1f}"
        " s, not ingested over the API. Timed from the first"
        f" `PUT /v1/agents/{{id}}/status` available ({c.status_concurrency} in flight)"
        " until every conversation is offered or assigned (SQL count polled every"
        " 20 ms). **offers** = the default flow (auto_accept false: an offer row and"
        " an `offer` agent event per conversation); **offers_sql_agents** = the same,"
        " but the agents are set available by one SQL UPDATE + pg_notify (timed from"
        " its commit): the scheduler alone, without the API's status path;"
        " **auto_accept** = one round with queue `auto`; **bare** = one asyncpg connection looping `UPDATE"
        " conversations ... FROM (SELECT ... WHERE assignment = 'waiting' ORDER BY"
        " waiting_since, id LIMIT 2000 FOR UPDATE SKIP LOCKED)`, agents round robin,"
        " nothing else. Before each round: every conversation back in line,"
        " offers/agent events/assignment log deleted, agents offline, VACUUM ANALYZE."
        " Service CPU = the uvicorn process; PostgreSQL CPU = the database's other"
        " backends (service) or the bare loop's backend.",
        "",
        "| run | placed | seconds | placed/s | agents all available after s"
        " | placed by then | placed/s after | service CPU ms/placed"
        " | PostgreSQL CPU ms/placed | offer/assigned events | invariant |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in asg.drains:
        per = max(r.placed, 1)
        tail = r.tail_rate
        lines.append(
            f"| {r.side} #{r.round} | {r.placed:,} | {r.seconds:.2f} | {r.rate:,.0f}"
            f" | {_opt(r.agents_seconds, '.2f')} | {_opt(r.placed_at_agents_done, ',')}"
            f" | {_opt(tail, ',.0f')}"
            f" | {_opt(r.server_cpu_seconds and 1000 * r.server_cpu_seconds / per, '.2f')}"
            f" | {_opt(r.pg_cpu_seconds and 1000 * r.pg_cpu_seconds / per, '.2f')}"
            f" | {_opt(r.offer_events, ',')}"
            f" | {'-' if r.invariants is None else _verdict(r.invariants.ok)} |"
        )
    lines += [
        "",
        f"- service (offers) median **{offers:,.0f} placed/s** (goal >="
        f" {GOAL_DRAIN_RATE:,.0f}/s: {_verdict(offers >= GOAL_DRAIN_RATE)});"
        f" offers_sql_agents {sql:,.0f}/s; auto_accept {auto:,.0f}/s; bare"
        f" {bare:,.0f}/s; offers/bare **{ratio:.2f}x**",
    ]
    for r in asg.drains:
        if r.invariants is not None:
            lines.append(f"- after {r.side} #{r.round}: {_invariants(r.invariants)}")
        if r.status_errors:
            lines.append(f"- {r.side} #{r.round}: {r.status_errors} status PUTs failed")
    return lines


def _render_sla(sl: sla.SlaReport) -> list[str]:
    lines: list[str] = []
    if sl.timers:
        lines += _render_sla_timers(sl)
    if sl.stats is not None:
        lines += _render_stats(sl)
    if sl.problems:
        lines.append(f"- problems: {'; '.join(_short(p) for p in sl.problems[:5])}")
    noted = {
        k: v
        for k, v in sl.events.items()
        if k.startswith(("request.", "database.", "scheduler.", "relay.", "sla."))
    }
    if noted:
        lines.append(f"- service log events: {noted}")
    other = {k: v for k, v in sl.log_statuses.items() if not k.startswith("2")}
    if other:
        lines.append(f"- non-2xx in the services' access logs: {other}")
    lines.append("")
    return lines


def _cost_row(name: str, c: sla.Cost | None) -> str:
    if c is None:
        return f"| {name} | - | - | - | - | - | - |"
    t = c.table_reads.get("sla_timers", (0, 0, 0, 0))
    v = c.table_reads.get("conversations", (0, 0, 0, 0))
    per = max(c.seconds, 1e-9)
    return (
        f"| {name} | {c.seconds:.1f} | {c.service_per_s:.3f} | {c.pg_per_s:.3f}"
        f" | {c.service_per_s + c.pg_per_s:.3f}"
        f" | {t[0] / per:.1f} / {t[1] / per:,.0f} / {t[3] / per:,.0f}"
        f" | {v[0] / per:.1f} / {v[1] / per:,.0f} / {v[3] / per:,.0f} |"
    )


def _secs_row(name: str, p: latency.Percentiles | None) -> str:
    if p is None or not p.count:
        return f"| {name} | - | - | - | - | - | 0 |"
    return (
        f"| {name} | {p.p50:.2f} | {p.p90:.2f} | {p.p99:.2f} | {p.p999:.2f}"
        f" | {p.max:.2f} | {p.count:,} |"
    )


def _render_sla_timers(sl: sla.SlaReport) -> list[str]:
    c = sl.config
    svc, bare = sl.side("service"), sl.side("bare")
    leading = ", ".join(
        f"{k} {'yes' if v else 'NO'}" for k, v in sl.scheduler_leading.items()
    )
    ref = svc or bare
    assert ref is not None
    groups = ", ".join(f"{k} {v:,}" for k, v in ref.groups.items())
    lines = [
        f"### SLA (a): scheduler cost and warning lateness, {c.conversations:,} open"
        f" conversations with {ref.timers:,} running SLA timers",
        "",
        f"`omniroute serve` (1 uvicorn worker; scheduler inside, leading: {leading};"
        " relay to the mock Kafka) on a fresh database. First an empty-database"
        f" window ({c.floor:.0f} s). Then {c.conversations:,} customers, open"
        " conversations (nothing waiting for assignment, last message now) and per"
        " conversation a first_response and a resolution timer (due in a day) written"
        f" with COPY in {ref.seed_seconds:.1f} s + VACUUM ANALYZE. first_response"
        f" groups: {groups}: **warn** = target 600 s, warn_at 0.8, warn_due_at"
        f" uniform over [base, base + {c.spread:.0f} s] (their breaches follow 120 s"
        " later); **breach** = target 3600 s, already warned, due_at uniform over"
        f" [base, base + {c.spread:.0f} s]; **far** = due in 2-3 h. `base` is"
        " chosen when the timers are generated; until then nothing is due (the idle"
        f" row), then {c.window:.0f} s are measured from base. CPU per wall second:"
        " service = its process tree; PostgreSQL = every backend of the database"
        " but the bench's own connection. Scans per second (pg_stat_user_tables):"
        " seq scans / rows read by seq scans / rows fetched by index scans."
        " **Lateness** = the outbox row's created_at (now() of the transaction"
        " that wrote it; it commits a few ms later) - the timer's warn_due_at"
        " (breaches: due_at), over every timer due in the measured window;"
        " *published* = the relay's published_at (after the mock Kafka acknowledged)"
        " - the same instant. **bare** = the same rows in another database (same"
        " generator, its own base), no service: one asyncpg connection in the bench"
        f" process loops every {c.poll_seconds:g} s after the previous round `SELECT"
        " ... FROM sla_timers WHERE warned_at IS NULL AND stopped_at IS NULL AND"
        f" warn_due_at <= now() ORDER BY warn_due_at LIMIT {c.batch} FOR UPDATE SKIP"
        " LOCKED` + `UPDATE ... SET warned_at = now()` + an outbox INSERT, one"
        " transaction per batch until one is not full, then the same for breaches on"
        " due_at; no conversation join, no CloudEvents document, no relay. Its CPU ="
        " the loop's thread in the bench process (service column) + its backend.",
        "",
        "| run | seconds | service CPU s/s | PostgreSQL CPU s/s | total cores"
        " | sla_timers seq scans/s / seq rows/s / index rows/s"
        " | conversations seq scans/s / seq rows/s / index rows/s |",
        "|---|---|---|---|---|---|---|",
    ]
    if svc is not None:
        lines += [
            _cost_row("service, empty database", svc.floor),
            _cost_row("service, timers seeded, nothing due", svc.idle),
            _cost_row("**service, measured window**", svc.active),
        ]
    if bare is not None:
        lines += [
            _cost_row("bare, timers seeded, nothing due", bare.idle),
            _cost_row("**bare, measured window**", bare.active),
        ]
    lines += [
        "",
        "| seconds late | p50 | p90 | p99 | p99.9 | max | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in (svc, bare):
        if r is None or r.warnings is None or r.breaches is None:
            continue
        pairs = [
            ("**{}: warning written - warn_due_at**", r.warnings.written),
            ("{}: warning published - warn_due_at", r.warnings.published),
            ("{}: breach written - due_at", r.breaches.written),
            ("{}: breach published - due_at", r.breaches.published),
        ]
        lines += [_secs_row(n.format(r.side), q) for n, q in pairs if q is not None]
    lines.append("")
    if svc is not None and svc.warnings is not None and svc.warnings.written:
        p99 = svc.warnings.written.p99
        ok = p99 < GOAL_SLA_WARN_P99_S and svc.warnings.missing == 0
        lines.append(
            f"- service warning lateness p99: **{p99:.2f} s** (goal <"
            f" {GOAL_SLA_WARN_P99_S:.0f} s: {_verdict(ok)}); p50"
            f" {svc.warnings.written.p50:.2f} s, max {svc.warnings.written.max:.2f} s"
        )
    for r in (svc, bare):
        if r is None or r.warnings is None or r.breaches is None:
            continue
        w, b = r.warnings, r.breaches
        lines.append(
            f"- {r.side}: warnings due in the window {w.due:,}, written {w.events:,},"
            f" missing {w.missing}; breaches due {b.due:,}, written {b.events:,},"
            f" missing {b.missing}; SLA outbox rows in all {r.sla_events:,};"
            f" (conversation, metric, type) with 2+ rows **{r.duplicates}**; written"
            f" before due {r.early}; exactly once **{_verdict(r.exactly_once)}**"
            + (f"; rounds in the window {r.rounds}" if r.side == "bare" else "")
            + (
                f"; not yet published by the relay {w.unpublished + b.unpublished}"
                if r.side == "service"
                else ""
            )
        )
        cells = ", ".join(
            f"{start:.0f}-{start + sla.WINDOW_BUCKET:.0f} s {p50:.2f}/{p99:.2f}"
            for start, p50, p99, _ in w.buckets
        )
        lines.append(
            f"- {r.side}, warning written lateness p50/p99 s by due time in the"
            f" window: {cells}"
        )
    if svc is not None and svc.active is not None and bare is not None:
        s_total = svc.active.service_per_s + svc.active.pg_per_s
        b_total = bare.active.service_per_s + bare.active.pg_per_s if bare.active else 0
        s_idle = svc.idle.service_per_s + svc.idle.pg_per_s if svc.idle else 0.0
        lines.append(
            f"- cost in the window, service (process + PostgreSQL) / bare:"
            f" **{s_total / b_total if b_total else 0:.1f}x** ({s_total:.3f} vs"
            f" {b_total:.3f} cores); service idle with the timers seeded"
            f" {s_idle:.3f} cores"
        )
    if svc is not None and svc.due_plan:
        rows = [
            ("nothing due, custom plan", svc.due_plan),
            ("nothing due, generic plan", svc.due_plan_generic),
            ("1 s after the service stopped, custom plan", svc.due_plan_active),
            (
                "1 s after the service stopped, generic plan",
                svc.due_plan_active_generic,
            ),
        ]
        for label, plan in rows:
            if plan:
                lines.append(
                    f"- `_DUE_WARNINGS` (app/repositories/sla_timers.py) EXPLAIN ANALYZE, {label}:"
                    f" {sla.execution_ms(plan) or 0:.1f} ms; {sla.plan_shape(plan)}"
                )
        lines.append("- the plans: bench/out/sla-due-plans.txt")
    lines.append("")
    return lines


def _render_stats(sl: sla.SlaReport) -> list[str]:
    c, st = sl.config, sl.stats
    assert st is not None
    rows = ", ".join(f"{k} {v:,}" for k, v in st.rows.items())
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in st.seed_phases.items())
    lines = [
        f"### SLA (b): GET /v1/stats over {st.rows.get('conversations', 0):,}"
        f" conversations ({c.stats_days} days)",
        "",
        f"Fresh database seeded with COPY in {st.seed_seconds:.0f} s ({phases}):"
        f" {rows}. Conversations opened uniformly over {c.stats_days} days (older"
        " than a day closed; lognormal resolution times, median 2 h), 6 queues, 4"
        f" channels, {sla.AGENTS} agents, 5 % reopened, surveys sent for half the"
        " closed ones and rated for half of those; responses: a first one for 95 %,"
        " then Poisson(0.65) next ones; one `accepted` assignment_log row per closed"
        f" conversation; first_response + resolution timers for {c.sla_share:.0%}."
        f" The 7-day interval holds {st.scoped_7d:,} conversations. `omniroute"
        " serve` (1 uvicorn worker, scheduler leading:"
        f" {'yes' if sl.scheduler_leading.get('stats') else 'NO'}) on that"
        " database; one sequential httpx client (concurrency 1) sends each query"
        f" until {c.stats_requests} requests or {c.stats_seconds:.0f} s (no request"
        " starts later), after one unmeasured `/v1/stats` (the client's first"
        f" connection: {st.warmup_ms:.0f} ms, status {st.warmup_status}); a failed or"
        " timed-out request counts with the time it took. **bare** = `python -m"
        " bench.sla` (FastAPI + uvicorn + asyncpg) answering `SELECT count(*) FROM"
        " conversations WHERE opened_at >= $1 AND opened_at < $2` for the last 7"
        " days, the same client. CPU per request: the server process; PostgreSQL ="
        " the database's backends.",
        "",
        "| query | requests | 200 | other | p50 ms | p99 ms | max ms"
        " | server CPU ms/req | PostgreSQL CPU ms/req | goal |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in st.http:
        q = t.latency
        other = {k: v for k, v in t.statuses.items() if k != 200}
        bare = t.label.startswith("bare")
        goal = "-" if bare else _verdict(q.p99 < GOAL_STATS_P99_MS and not other)
        lines.append(
            f"| {t.label} | {q.count} | {t.ok} | {other or 0} | {q.p50:.1f}"
            f" | {q.p99:.1f} | {q.max:.1f} | {t.server_cpu_ms:.1f}"
            f" | {t.pg_cpu_ms:.1f} | {goal} |"
        )
    lines.append("")
    service = [t for t in st.http if not t.label.startswith("bare")]
    bare_t = next((t for t in st.http if t.label.startswith("bare")), None)
    if service:
        worst = max(t.latency.p99 for t in service)
        typical = service[0]
        ok = all(
            t.latency.p99 < GOAL_STATS_P99_MS and t.ok == t.latency.count
            for t in service
        )
        ratio = (
            f"; 7-day p99 / bare p99 **{typical.latency.p99 / bare_t.latency.p99:.0f}x**"
            if bare_t is not None and bare_t.latency.p99
            else ""
        )
        lines.append(
            f"- GET /v1/stats p99: 7 days **{typical.latency.p99:,.0f} ms**, worst"
            f" query {worst:,.0f} ms (goal < {GOAL_STATS_P99_MS:.0f} ms on every"
            f" query, all 200: {_verdict(ok)}){ratio}"
        )
    for t in st.http:
        lines.append(f"- {t.label}, each request in order (ms[/status]): {t.sequence}")
    if st.statements:
        labels = list(st.statements)
        lines += [
            "",
            "The repository's statements (app/repositories/stats.py), each executed"
            " once per scope on a fresh connection (custom plans), ms:",
            "",
            "| statement | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
        ]
        for name in sla.STATEMENTS:
            cells = " | ".join(f"{st.statements[k].get(name, 0):,.0f}" for k in labels)
            lines.append(f"| `{name}` | {cells} |")
        totals = " | ".join(f"{sum(st.statements[k].values()):,.0f}" for k in labels)
        lines += [f"| sum | {totals} |", ""]
    if st.repeated:
        lines += [
            f"Then what one GET /v1/stats runs (`Stats.compute`, the 7-day scope),"
            f" {len(st.repeated)} times on one asyncpg connection (statement cache on,"
            f" as the service's pooled connections) with statement_timeout"
            f" {sla.REPEAT_TIMEOUT:.0f} s, ms:",
            "",
            "| round | " + " | ".join(f"`{k}`" for k in sla.STATEMENTS) + " | sum |",
            "|---|" + "---|" * (len(sla.STATEMENTS) + 1),
        ]
        for i, times in enumerate(st.repeated, 1):
            cells = " | ".join(
                "**timeout**" if v is None else f"{v:,.0f}" for v in times.values()
            )
            total = sum(v for v in times.values() if v is not None)
            late = any(v is None for v in times.values())
            lines.append(f"| {i} | {cells} | {'>' if late else ''}{total:,.0f} |")
        lines.append("")
    if st.plan_costs:
        costs = "; ".join(
            f"`{k}` {cu:,.0f} vs {ge:,.0f} ({'generic cheaper' if ge < cu else 'custom'},"
            f" generic plan expects {rows:,.0f} scoped rows)"
            for k, (cu, ge, rows) in st.plan_costs.items()
        )
        lines.append(
            "- estimated total cost, 7-day custom plan vs generic plan (a prepared"
            " statement switches to its generic plan from its 6th execution on a"
            " connection when that costs less than the custom plans did on average;"
            f" asyncpg prepares every statement): {costs}; generic plans:"
            " bench/out/sla-generic-*.txt"
        )
    if st.slowest:
        top = "; ".join(f"{name} {ms:,.0f} ms" for name, ms in st.explain_top)
        jit = f", of which JIT {st.jit_ms:,.0f} ms" if st.jit_ms else ""
        lines.append(
            f"- EXPLAIN (ANALYZE, BUFFERS) of the slowest 7-day statement,"
            f" `{st.slowest}`: {st.explain_total_ms:,.0f} ms{jit}; nodes by own time:"
            f" {top} (plan: {st.explain_path})"
        )
    lines.append("")
    return lines


def _opt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _p99(p: latency.Percentiles | None) -> str:
    return "-" if p is None or not p.count else f"{p.p99:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
