"""Parsing untrusted webhook bodies off the event loop, in bounded threads and time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from fastapi import FastAPI

from app.api.middleware import RETRY_AFTER_SECONDS
from app.api.problems import PayloadTooComplex, ServiceBusy
from app.settings import Settings

__all__ = ["ParsePool", "lifespan"]

_T = TypeVar("_T")


class ParsePool:
    """A few threads for the parses that can be expensive, with bounded waiting.

    At most `queue` parses are waiting or running at once; one more is ServiceBusy
    (503) at once, as is one that waited `timeout` without starting. A parse that
    runs past `timeout` is PayloadTooComplex (422). Its thread cannot be killed and
    runs on: that is why every parser's input is bounded as well (email_text,
    json_body, FormLimits), and the slot is freed only when the thread is done,
    so stuck parses fill the queue instead of piling up behind it.

    The threads share the GIL with the event loop. They keep the loop responsive
    because the interpreter hands the GIL over every few milliseconds, but not
    during one long C call (a regex over megabytes): the bounds prevent those.
    """

    def __init__(
        self, *, workers: int, queue: int, timeout: float, retry_after: int
    ) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="parse")
        # Acquired on the loop, released by the worker that finishes: a thread lock.
        self._slots = threading.BoundedSemaphore(queue)
        self._timeout = timeout
        self._busy_headers = {"Retry-After": str(retry_after)}

    async def run(self, work: Callable[[], _T]) -> _T:
        """`work()` on a pool thread; ServiceBusy or PayloadTooComplex as above."""
        if not self._slots.acquire(blocking=False):
            raise ServiceBusy(
                "too many webhook bodies are being parsed; retry later",
                headers=self._busy_headers,
            )
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def job() -> _T:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(started.set)
            return work()

        try:
            future = self._executor.submit(job)
        except RuntimeError:  # shut down
            self._slots.release()
            raise
        future.add_done_callback(self._release)
        await self._started(future, started)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError:
            raise PayloadTooComplex(
                f"the body took more than {self._timeout:g} s to parse"
            ) from None

    async def _started(self, future: Future[_T], started: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(started.wait(), self._timeout)
        except TimeoutError:
            if future.cancel():  # still queued: it never runs
                raise ServiceBusy(
                    f"no parser was free within {self._timeout:g} s; retry later",
                    headers=self._busy_headers,
                ) from None
            # It started as the wait ended: its time budget starts now.
        except asyncio.CancelledError:  # the client went away
            future.cancel()
            raise

    def _release(self, _: Future[_T]) -> None:
        self._slots.release()

    def shutdown(self) -> None:
        """Stop the threads once their current parse is done; queued work is dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The app's ParsePool, from its settings, for as long as the app runs."""
    settings: Settings = app.state.settings
    pool = app.state.parse_pool = ParsePool(
        workers=settings.parse_workers,
        queue=settings.parse_queue,
        timeout=settings.parse_timeout_seconds,
        retry_after=RETRY_AFTER_SECONDS,
    )
    try:
        yield
    finally:
        pool.shutdown()
