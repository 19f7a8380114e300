"""Worst /healthz latency while the bombs are sent, with the server in its own process.

    OMNIROUTE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python -m tests.bomb_latency --runs 5

Runs the production server (`app.cli.run_server`: its HTTP protocol, frozen GC) on
a fresh migrated database, sends `--rounds` of tests.bombs' barrage back to back,
`--runs` times, checks every
answer and prints the /healthz round trips measured meanwhile. `--heavy` adds a
signed 9 MiB plain-text email (stored: the parse pool's longest legitimate job).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrate import upgrade
from tests.bombs import Barrage, barrage, bombs, legit_sms, mime_plain_text_bomb
from tests.conftest import SECRETS

_SERVE = "from app.cli import load_settings, run_server; import sys; run_server(load_settings(), '127.0.0.1', int(sys.argv[1]))"  # fmt: skip


async def _admin(url: URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@asynccontextmanager
async def _database() -> AsyncIterator[URL]:
    given = os.environ["OMNIROUTE_TEST_DATABASE_URL"]
    server = make_url(given).set(drivername="postgresql+asyncpg")
    name = f"omniroute_bombs_{uuid.uuid4().hex[:12]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name)
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _admin(server, f'DROP DATABASE "{name}" WITH (FORCE)')


@asynccontextmanager
async def _server(url: URL, port: int) -> AsyncIterator[str]:
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OMNIROUTE_DATABASE_URL": url.render_as_string(hide_password=False),
        "OMNIROUTE_PUBLIC_BASE_URL": base,
        "OMNIROUTE_ATTACHMENT_DIR": tempfile.mkdtemp(prefix="omniroute-bombs-"),
        **{f"OMNIROUTE_{k.upper()}": str(v) for k, v in SECRETS.items() if k != "api_tokens"},
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SERVE,
        str(port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _until_healthy(base)
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def _until_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)


def _check(result: Barrage, heavy: bool) -> list[str]:
    expected = {bomb.name: bomb.status for bomb in bombs()}
    expected |= {"legit": 200} | ({"heavy": 200} if heavy else {})
    return [
        f"{name}: {answers[name].status_code} != {status}"
        for answers in result.rounds
        for name, status in expected.items()
        if answers[name].status_code != status
    ]


async def _run(runs: int, rounds: int, heavy: bool) -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    worst_of_all = 0.0
    async with _database() as url, _server(url, port) as base:
        for run in range(1, runs + 1):
            legit = legit_sms(base, "SM" + uuid.uuid4().hex)
            extra = {"heavy": mime_plain_text_bomb()} if heavy else {}
            result = await barrage(base, legit, rounds=rounds, extra=extra)
            seconds = sorted(result.healthz_seconds)
            worst_of_all = max(worst_of_all, seconds[-1])
            wrong = _check(result, heavy)
            print(  # noqa: T201
                f"run {run}: {rounds} rounds answered in {result.seconds:.2f} s;"
                f" {len(seconds)} /healthz calls, median"
                f" {statistics.median(seconds) * 1000:.1f} ms, worst"
                f" {seconds[-1] * 1000:.1f} ms; answers {wrong or 'ok'}"
            )
    print(f"worst /healthz over {runs} runs: {worst_of_all * 1000:.1f} ms")  # noqa: T201
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=20, help="barrages per run")
    parser.add_argument("--heavy", action="store_true")
    args = parser.parse_args()
    return asyncio.run(_run(args.runs, args.rounds, args.heavy))


if __name__ == "__main__":
    raise SystemExit(main())
