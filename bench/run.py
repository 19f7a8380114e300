"""`python -m bench.run`: ingest vs bare baseline, then reads; figures to bench/RESULTS.md.

Needs wrk (`apt-get install -y wrk`) and PostgreSQL at 127.0.0.1:5432 (user postgres,
trust auth). Creates and drops databases named omniroute_bench_*; generated files,
wrk outputs and server logs go to bench/out/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ingest, procs, reads

RESULTS = procs.BENCH_DIR / "RESULTS.md"
MB = 1024.0  # KiB per MiB
GOAL_RPS_RATIO = 0.5
GOAL_P99_RATIO = 2.0
GOAL_RSS_MB = 250
GOAL_READ_P99_MS = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="per ingest run")
    parser.add_argument("--warmup", type=float, default=8.0, help="ingest warm-up")
    parser.add_argument("--rounds", type=int, default=3, help="service/baseline pairs")
    parser.add_argument("--read-seconds", type=float, default=10.0)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument(
        "--no-results", action="store_true", help="do not append to bench/RESULTS.md"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2

    command = " ".join(
        ["python -m bench.run", *(sys.argv[1:] if argv is None else argv)]
    )
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    procs.OUT.mkdir(parents=True, exist_ok=True)
    databases: list[str] = []
    ingest_report = read_report = None
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
    finally:
        for name in databases:
            try:
                procs.drop_database(name)
            except Exception as error:  # report, keep dropping the others
                print(f"bench: could not drop {name}: {error}", file=sys.stderr)
    elapsed = time.monotonic() - started
    text = render(command, elapsed, ingest_report, read_report)
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
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"## {now}: `{command}`", "", *_machine(), f"- run took {elapsed:.0f} s", ""]
    if ing is not None:
        out += _render_ingest(ing)
    if rd is not None:
        out += _render_reads(rd)
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


if __name__ == "__main__":
    raise SystemExit(main())
