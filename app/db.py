"""Engine construction and the database-unavailable signal."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.settings import Settings


def make_engine(
    settings: Settings, application_name: str = "omniroute.api"
) -> AsyncEngine:
    return create_async_engine(
        settings.async_database_url(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=5,
        pool_pre_ping=False,
        connect_args={
            "server_settings": {"application_name": application_name},
            "timeout": 5,
        },
    )


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


@contextlib.asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's asyncpg driver: hot paths skip SQLAlchemy's per-statement cost
    (about 3x the driver's on this machine, see shared/perf-notes.md)."""
    async with engine.connect() as sa_conn:
        raw = await sa_conn.get_raw_connection()
        conn: asyncpg.Connection = raw.driver_connection
        yield conn


@contextlib.asynccontextmanager
async def driver_transaction(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The same, inside one transaction: commit on exit, roll back on an exception."""
    async with driver_connection(engine) as conn, conn.transaction():
        yield conn
