"""The connection pool every repository runs on, and the database-unavailable signal.

Repositories execute on asyncpg connections directly: SQLAlchemy's per-statement layer
costs about 3x the driver's on this machine (shared/perf-notes.md). SQLAlchemy stays for
the schema models and Alembic. One fixed-size pool, no overflow: an overflow connection
is closed again when returned, and each reconnect re-prepares every statement.

An outage reaches callers as one type, `DatabaseUnavailable` (the API answers 503 with
Retry-After), and expires the pool's connections so the first requests after the
database returns run on fresh ones instead of failing one by one on dead ones.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import asyncpg
import structlog

from app.repositories.sessions import ping
from app.settings import Settings

log = structlog.get_logger(__name__)
ACQUIRE_TIMEOUT_SECONDS = 5.0
# SQLSTATEs meaning "the server is not there for us now": class 08 (connection
# exception), 57P* (admin or crash shutdown, cannot connect now, database dropped, idle
# session timeout) and 53300 (too many connections). Not the rest of class 57: 57014 is
# a cancelled query. https://www.postgresql.org/docs/current/errcodes-appendix.html
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or the connection died: retry later."""

    def __init__(self, cause: BaseException) -> None:
        self.reason = type(cause).__name__  # the driver's error class, for logs
        super().__init__(f"the database is unavailable ({self.reason})")


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
            await ping(conn)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; an outage, here or inside, raises `DatabaseUnavailable`."""
        conn = await self._acquire()
        try:
            yield conn
        except DatabaseUnavailable:
            raise
        except Exception as error:
            # A connection that died mid-scope surfaces as a bare InterfaceError
            # ("connection is closed", "released back to the pool"), which misuse raises
            # too: tell them apart by the connection's state, not by the message.
            if is_unavailable(error) or _is_lost(conn):
                raise await self._unavailable(error) from error
            raise
        finally:
            await self._release(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction: commit on exit, roll back on an exception."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def _acquire(self) -> asyncpg.Connection:
        try:
            return await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)
        except OSError as error:  # refused, unreachable, DNS, acquire timeout
            raise await self._unavailable(error) from error
        except asyncpg.PostgresError as error:  # shutting down, too many connections
            if is_unavailable(error):
                raise await self._unavailable(error) from error
            raise  # e.g. a wrong password or database name: a configuration error

    async def _release(self, conn: asyncpg.Connection) -> None:
        # The scope's outcome is settled (committed or raised) before the release; a
        # reset that fails here (a dying server leaves the protocol in any state) only
        # means the connection is gone, and asyncpg has already terminated it.
        try:
            await self._pool.release(conn)
        except Exception as error:
            if not isinstance(error, TimeoutError):
                await self._pool.expire_connections()
            log.warning("database.release_failed", error=type(error).__name__)

    async def _unavailable(self, error: BaseException) -> DatabaseUnavailable:
        # Every pooled connection may be as dead as this one (a restart, a failover):
        # replace each at its next acquire rather than let each request find out. Not
        # on overload (a timeout, too many connections): those connections are alive,
        # and reconnecting them all would add to the load.
        if not isinstance(error, TimeoutError | asyncpg.TooManyConnectionsError):
            await self._pool.expire_connections()
        return DatabaseUnavailable(error)


def _is_lost(conn: asyncpg.Connection) -> bool:
    """True once the server or the network closed this checked-out connection."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:  # the pool detaches a proxy whose connection died
        return True


def dsn(settings: Settings) -> str:
    """A libpq-style URL for asyncpg (password included, driver suffix dropped)."""
    url = settings.async_database_url().set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def is_unavailable(error: BaseException) -> bool:
    """True when the error means the database cannot be reached now (retry later).

    A programming error (bad SQL, a constraint violation that escapes) is not.
    """
    if isinstance(
        error, DatabaseUnavailable | ConnectionError | TimeoutError | socket.gaierror
    ):
        return True
    if isinstance(error, asyncpg.PostgresError):
        return str(getattr(error, "sqlstate", "")).startswith(_UNAVAILABLE_SQLSTATES)
    return False
