"""One active worker per database: a session advisory lock on a dedicated connection
(it dies with the connection, so a standby takes over), with LISTEN on that connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg

from app.repositories.sessions import try_advisory_lock


@contextlib.asynccontextmanager
async def leadership(
    dsn: str,
    lock_key: int,
    *,
    channel: str,
    on_notify: Callable[..., object],
    application_name: str,
    on_lost: Callable[[object], None] | None = None,
) -> AsyncIterator[asyncpg.Connection | None]:
    """The leader's connection (listening on `channel`), or None when another holds it.

    `on_lost` is called when the server or the network closes the connection: the
    lock died with it, so the holder must stop acting as leader."""
    conn = await asyncpg.connect(
        dsn, server_settings={"application_name": application_name}
    )
    try:
        if not await try_advisory_lock(conn, lock_key):
            yield None
            return
        if on_lost is not None:
            conn.add_termination_listener(on_lost)
        await conn.add_listener(channel, on_notify)
        yield conn
    finally:
        if on_lost is not None:
            conn.remove_termination_listener(on_lost)
        with contextlib.suppress(Exception):
            await conn.close(timeout=2)


async def pause(
    seconds: float, stopping: asyncio.Event, wakeup: asyncio.Event | None = None
) -> None:
    """Sleep up to `seconds`, returning early when stopping (or woken)."""
    waiters = [asyncio.ensure_future(stopping.wait())]
    if wakeup is not None:
        waiters.append(asyncio.ensure_future(wakeup.wait()))
    _, pending = await asyncio.wait(
        waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
    )
    for waiter in pending:
        waiter.cancel()
