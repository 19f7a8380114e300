"""Processes the benchmark drives: servers under test, wrk, and PostgreSQL admin."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
OUT = BENCH_DIR / "out"
REPLAY_LUA = BENCH_DIR / "replay.lua"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dsn(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(name: str) -> None:
    assert name.startswith("omniroute_bench"), name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))


def drop_database(name: str) -> None:
    assert name.startswith("omniroute_bench"), name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _fetchval(database: str, query: str) -> object:
    conn = await asyncpg.connect(dsn(database))
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def fetchval(database: str, query: str) -> object:
    return asyncio.run(_fetchval(database, query))


@dataclass
class Server:
    """A server subprocess with stdout and stderr in one log file."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_kib(self) -> int:
        """VmHWM of the process plus all its descendants (uvicorn workers, if any)."""
        return sum(_status_kib(pid, "VmHWM") for pid in _tree(self.proc.pid))

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process tree so far."""
        return sum(_cpu_ticks(pid) for pid in _tree(self.proc.pid)) / _TICKS

    def measure(self, run: Callable[[], WrkResult]) -> WrkResult:
        """Run wrk and attach this server's CPU milliseconds per completed response."""
        before = self.cpu_seconds()
        result = run()
        used = self.cpu_seconds() - before
        return replace(result, server_cpu_ms=1000 * used / max(result.requests, 1))

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_server(
    name: str, argv: list[str], env: dict[str, str], port: int, ready_path: str
) -> Server:
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=BENCH_DIR.parent,
    )
    log.close()
    server = Server(name, port, proc, log_path)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {proc.returncode}; see {log_path}:\n"
                + log_path.read_text()[-3000:]
            )
        try:
            with urllib.request.urlopen(server.base_url + ready_path, timeout=2) as r:
                if r.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not answer {ready_path}; see {log_path}")
        time.sleep(0.1)


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return pids


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


@dataclass(frozen=True)
class WrkResult:
    label: str
    requests: int  # completed responses
    seconds: float
    sent: int  # request() calls in Lua (one is wrk's own check, never sent)
    wraps: int
    non2xx: int  # status >= 400 (wrk's "Non-2xx or 3xx" count)
    socket_errors: int
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    server_cpu_ms: float | None = None  # server CPU per response, when measured

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx


def wrk(
    label: str,
    url: str,
    requests_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    start: int = 0,
) -> WrkResult:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(REPLAY_LUA),
        url,
        "--",
        str(requests_file),
        str(start),
        str(threads),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    (OUT / f"wrk-{label}.txt").write_text(
        " ".join(argv) + "\n\n" + done.stdout + done.stderr
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    line = next(
        (ln for ln in done.stdout.splitlines() if ln.startswith("BENCHJSON ")), None
    )
    if line is None:
        raise RuntimeError(f"wrk printed no BENCHJSON line:\n{done.stdout[-2000:]}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    return WrkResult(
        label=label,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        sent=data["sent"],
        wraps=data["wraps"],
        non2xx=data["err_status"],
        socket_errors=data["err_connect"] + data["err_read"] + data["err_write"],
        timeouts=data["err_timeout"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


def base_env() -> dict[str, str]:
    """This environment without any OMNIROUTE_* leaking into the servers."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}


def scheduler_leading(database: str) -> bool:
    """Whether a service's scheduler holds its leader lock on `database`."""
    return bool(
        fetchval(
            database,
            "SELECT count(*) > 0 FROM pg_stat_activity a JOIN pg_locks l"
            " ON l.pid = a.pid WHERE a.application_name = 'omniroute.scheduler'"
            " AND a.datname = current_database() AND l.locktype = 'advisory'"
            " AND l.granted",
        )
    )


def wait_scheduler_leading(database: str, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if scheduler_leading(database):
            return True
        time.sleep(0.1)
    return False
