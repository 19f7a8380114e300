"""ParsePool: parses off the loop, a bounded queue (503) and a time budget (422)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from app.api.parse_pool import ParsePool
from app.api.problems import PayloadTooComplex, ServiceBusy


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Work that waits on `gate` runs until the test opens it (always, at the end)."""
    event = threading.Event()
    yield event
    event.set()


def _pool(*, workers: int = 1, queue: int = 2, timeout: float = 5.0) -> ParsePool:
    return ParsePool(workers=workers, queue=queue, timeout=timeout, retry_after=5)


async def _until_started(running: threading.Event) -> None:
    async with asyncio.timeout(5):
        while not running.is_set():
            await asyncio.sleep(0.005)


async def test_work_runs_on_a_pool_thread_and_its_errors_come_back() -> None:
    pool = _pool()

    assert await pool.run(threading.current_thread) is not threading.current_thread()
    with pytest.raises(ZeroDivisionError):
        await pool.run(lambda: 1 // 0)
    pool.shutdown()


async def test_a_full_queue_is_refused_at_once_with_retry_after(gate) -> None:
    pool = _pool(workers=1, queue=2)
    running = threading.Event()

    def blocked() -> str:
        running.set()
        gate.wait(5)
        return "done"

    first = asyncio.create_task(pool.run(blocked))
    await _until_started(running)
    second = asyncio.create_task(pool.run(lambda: "queued"))
    await asyncio.sleep(0)  # second holds the other slot, waiting for the worker

    with pytest.raises(ServiceBusy) as caught:
        await pool.run(lambda: "third")
    assert caught.value.headers == {"Retry-After": "5"}
    gate.set()
    assert (await first, await second) == ("done", "queued")
    assert await pool.run(lambda: "slots are free again") == "slots are free again"
    pool.shutdown()


async def test_a_parse_over_its_budget_is_too_complex_and_keeps_its_slot(gate) -> None:
    pool = _pool(workers=1, queue=1, timeout=0.2)
    finished = threading.Event()

    def stuck() -> None:
        gate.wait(5)
        finished.set()

    with pytest.raises(PayloadTooComplex, match=r"more than 0\.2 s to parse"):
        await pool.run(stuck)
    # The thread cannot be stopped: until it ends, its slot stays taken.
    with pytest.raises(ServiceBusy):
        await pool.run(lambda: None)
    gate.set()
    await asyncio.to_thread(finished.wait, 5)
    assert await _once_free(pool) == "free"
    pool.shutdown()


async def _once_free(pool: ParsePool) -> str:
    # The slot is freed by the future's done callback, just after the work returns.
    async with asyncio.timeout(5):
        while True:
            try:
                return await pool.run(lambda: "free")
            except ServiceBusy:
                await asyncio.sleep(0.01)


async def test_work_that_waits_its_whole_budget_for_a_worker_is_busy(gate) -> None:
    pool = _pool(workers=1, queue=2, timeout=0.2)
    running = threading.Event()
    ran: list[str] = []

    def blocked() -> None:
        running.set()
        gate.wait(5)

    first = asyncio.create_task(pool.run(blocked))
    await _until_started(running)
    with pytest.raises(ServiceBusy, match=r"no parser was free within 0\.2 s"):
        await pool.run(lambda: ran.append("never"))
    gate.set()
    with pytest.raises(PayloadTooComplex):
        await first
    pool.shutdown()
    assert ran == []  # cancelled before it started
