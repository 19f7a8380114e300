"""The connection pool every repository runs on, and the database-unavailable signal.

Repositories execute on asyncpg connections directly: SQLAlchemy's per-statement layer
costs about 3x the driver's on this machine (shared/perf-notes.md). SQLAlchemy stays for
the schema models and Alembic. One fixed-size pool, no overflow: an overflow connection
is closed again when returned, and each reconnect re-prepares every statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy import exc

from app.settings import Settings

ACQUIRE_TIMEOUT_SECONDS = 5.0


class Database:
    """An asyncpg pool with `connection()` and `transaction()` scopes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(
        cls, settings: Settings, application_name: str = "omniroute.api"
    ) -> Database:
        pool = await asyncpg.create_pool(
            dsn(settings),
            min_size=0,  # start even while the database is away (then 503s)
            max_size=settings.db_pool_size,
            timeout=5,
            command_timeout=30,
            server_settings={"application_name": application_name},
        )
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        """Raise unless a pooled connection answers (readiness)."""
        async with self.connection() as conn:
            await conn.execute("SELECT 1")

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction: commit on exit, roll back on an exception."""
        async with self.connection() as conn, conn.transaction():
            yield conn


def dsn(settings: Settings) -> str:
    """A libpq-style URL for asyncpg (password included, driver suffix dropped)."""
    url = settings.async_database_url().set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def is_unavailable(error: BaseException) -> bool:
    """True when the error means the database cannot be reached (retry later)."""
    if isinstance(error, exc.TimeoutError):  # pool exhausted
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
        cause = getattr(error, "__cause__", None)
        if cause is not None:
            error = cause
    return isinstance(
        error,
        OSError
        | TimeoutError
        | asyncpg.CannotConnectNowError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.TooManyConnectionsError,
    )
