"""Connection-level statements: the liveness probe and the session advisory lock that
elects one relay and one dispatcher per database."""

from __future__ import annotations

import asyncpg

_PING = "SELECT 1"
_TRY_LOCK = "SELECT pg_try_advisory_lock($1)"


async def ping(conn: asyncpg.Connection) -> None:
    await conn.execute(_PING)


async def try_advisory_lock(conn: asyncpg.Connection, key: int) -> bool:
    """True when this session now holds `key` (it dies with the connection)."""
    return bool(await conn.fetchval(_TRY_LOCK, key))
