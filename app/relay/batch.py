"""One relay step: publish a batch of pending outbox rows and mark what the broker
acknowledged. Needs only a connection and a producer (no leadership, no loop), so it
is the unit under test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.events import CONTENT_TYPE
from app.repositories.outbox import Outbox, PendingRow

_HEADERS = [("content-type", CONTENT_TYPE.encode())]


class Producer(Protocol):
    """The slice of AIOKafkaProducer the relay uses."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]: ...


@dataclass(frozen=True, slots=True)
class BatchResult:
    fetched: int
    published: tuple[PendingRow, ...]  # acknowledged and marked
    error: str | None = None  # why the rest was not (None when all were)

    @property
    def is_complete(self) -> bool:
        return len(self.published) == self.fetched


# Called with the number of sends still awaiting an ack, every `ack_wait` seconds.
AwaitingAcks = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class InFlight:
    """A batch handed to the producer, awaiting the broker's acknowledgements."""

    rows: tuple[PendingRow, ...]
    futures: tuple[asyncio.Future[object], ...]

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows]


class SendFailed(Exception):
    """The producer refused a send (not connected, closed, buffer full...)."""

    def __init__(self, reason: str, fetched: int) -> None:
        super().__init__(reason)
        self.fetched = fetched


async def send_batch(
    outbox: Outbox, producer: Producer, *, limit: int, after: int = 0
) -> InFlight | None:
    """Hand up to `limit` pending rows (id order, above `after`) to the producer;
    None when there is nothing to send. Nothing is marked here."""
    rows = await outbox.pending(limit, after=after)
    if not rows:
        return None
    try:
        futures = [
            await producer.send(
                r.topic, r.payload.encode(), key=r.key.encode(), headers=_HEADERS
            )
            for r in rows
        ]
    except Exception as failure:  # aiokafka raises many types; all mean "not sent"
        reason = f"{type(failure).__name__}: {failure}"
        raise SendFailed(reason, len(rows)) from failure
    return InFlight(tuple(rows), tuple(futures))


async def settle(
    outbox: Outbox,
    batch: InFlight,
    *,
    ack_wait_seconds: float = 5.0,
    on_waiting: AwaitingAcks | None = None,
    is_stopping: Callable[[], bool] = lambda: False,
) -> BatchResult:
    """Wait for the batch's acknowledgements; mark only acknowledged per-key prefixes,
    so a key's later event is never marked before an earlier one."""
    await _wait_for_acks(list(batch.futures), ack_wait_seconds, on_waiting, is_stopping)
    acked, error = _acknowledged_prefixes(batch.rows, list(batch.futures))
    if acked:
        await outbox.mark_published([r.id for r in acked])
    return BatchResult(len(batch.rows), tuple(acked), error)


async def publish_batch(
    outbox: Outbox,
    producer: Producer,
    *,
    limit: int,
    ack_wait_seconds: float = 5.0,
    on_waiting: AwaitingAcks | None = None,
    is_stopping: Callable[[], bool] = lambda: False,
) -> BatchResult:
    """Send one batch and settle it (the relay overlaps the two across batches)."""
    try:
        batch = await send_batch(outbox, producer, limit=limit)
    except SendFailed as failed:
        return BatchResult(failed.fetched, (), str(failed))
    if batch is None:
        return BatchResult(0, ())
    return await settle(
        outbox,
        batch,
        ack_wait_seconds=ack_wait_seconds,
        on_waiting=on_waiting,
        is_stopping=is_stopping,
    )


async def _wait_for_acks(
    futures: list[asyncio.Future[object]],
    ack_wait_seconds: float,
    on_waiting: AwaitingAcks | None,
    is_stopping: Callable[[], bool],
) -> None:
    # An idempotent producer never expires a batch while the broker is away; keep
    # waiting on the same futures (re-sending would duplicate) and report it.
    while True:
        _, pending = await asyncio.wait(futures, timeout=ack_wait_seconds)
        if not pending or is_stopping():
            return
        if on_waiting is not None:
            await on_waiting(len(pending))


def _acknowledged_prefixes(
    rows: Sequence[PendingRow], futures: list[asyncio.Future[object]]
) -> tuple[list[PendingRow], str | None]:
    """Rows acknowledged with no earlier failure of the same key (per-key order holds)."""
    failed_keys: set[str] = set()
    acked: list[PendingRow] = []
    last_error: str | None = None
    for row, future in zip(rows, futures, strict=True):
        error = future.exception() if future.done() and not future.cancelled() else None
        if not future.done() or future.cancelled() or error is not None:
            failed_keys.add(row.key)
            last_error = (
                f"{type(error).__name__}: {error}"
                if error is not None
                else "send not acknowledged"
            )
            continue
        if row.key not in failed_keys:
            acked.append(row)
    return acked, last_error
