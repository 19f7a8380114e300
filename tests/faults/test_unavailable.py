"""Which failures mean "the database is unavailable, retry later" (503), over real
exceptions from a private PostgreSQL, and what `Database` does when a connection dies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest

from app.db import Database, DatabaseUnavailable, is_unavailable
from app.main import create_app
from tests.conftest import AUTH, PUBLIC_BASE_URL, make_settings
from tests.faults.postgres import LocalPostgres, free_port

Produce = Callable[[LocalPostgres], Awaitable[BaseException]]


async def _raised(work: Awaitable[object]) -> BaseException:
    try:
        await work
    except Exception as error:
        return error
    raise AssertionError("expected an exception")


@contextlib.asynccontextmanager
async def _session(server: LocalPostgres, **options: object) -> AsyncIterator:
    conn = await asyncpg.connect(server.url, **options)
    try:
        yield conn
    finally:
        await conn.close()


async def _refused(_: LocalPostgres) -> BaseException:
    return await _raised(asyncpg.connect(port=free_port(), host="127.0.0.1"))


async def _terminated_in_flight(server: LocalPostgres) -> BaseException:
    async with _session(server) as victim, _session(server) as admin:
        query = asyncio.ensure_future(victim.execute("SELECT pg_sleep(10)"))
        while not await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
        ):
            await asyncio.sleep(0.01)
        await admin.execute("SELECT pg_terminate_backend($1)", victim.get_server_pid())
        return await _raised(query)


async def _shutting_down(server: LocalPostgres) -> BaseException:
    async with _session(server):  # holds a smart shutdown open
        await asyncio.to_thread(server.begin_smart_shutdown)
        try:
            return await _raised(asyncpg.connect(server.url))
        finally:
            await asyncio.to_thread(server.stop)  # fast: ends our session too
            await asyncio.to_thread(server.start)


async def _too_many_connections(server: LocalPostgres) -> BaseException:
    async with _session(server) as admin:
        await admin.execute("DROP ROLE IF EXISTS limited")
        await admin.execute("CREATE ROLE limited LOGIN CONNECTION LIMIT 0")
    return await _raised(asyncpg.connect(server.url.replace("postgres@", "limited@")))


async def _acquire_timeout(server: LocalPostgres) -> BaseException:
    pool = asyncpg.create_pool(server.url, min_size=1, max_size=1)
    async with pool, pool.acquire():
        return await _raised(pool.acquire(timeout=0.05))


async def _command_timeout(server: LocalPostgres) -> BaseException:
    async with _session(server) as conn:
        return await _raised(conn.execute("SELECT pg_sleep(5)", timeout=0.05))


async def _statement_timeout(server: LocalPostgres) -> BaseException:
    async with _session(server, server_settings={"statement_timeout": "10"}) as conn:
        return await _raised(conn.execute("SELECT pg_sleep(5)"))


async def _syntax_error(server: LocalPostgres) -> BaseException:
    async with _session(server) as conn:
        return await _raised(conn.execute("SELEC 1"))


async def _unique_violation(server: LocalPostgres) -> BaseException:
    async with _session(server) as conn:
        await conn.execute("CREATE TEMP TABLE t (id int PRIMARY KEY)")
        return await _raised(conn.execute("INSERT INTO t VALUES (1), (1)"))


async def _unknown_database(server: LocalPostgres) -> BaseException:
    url = server.url.rsplit("/", 1)[0] + "/nothing"
    return await _raised(asyncpg.connect(url))


async def _used_after_close(server: LocalPostgres) -> BaseException:
    async with _session(server) as conn:
        await conn.close()
        return await _raised(conn.execute("SELECT 1"))


async def _disk_error(_: LocalPostgres) -> BaseException:
    return await _raised(asyncio.to_thread(open, "/nonexistent/attachment"))


def _given(error: BaseException) -> Produce:
    async def produce(_: LocalPostgres) -> BaseException:
        return error

    return produce


@pytest.mark.parametrize(
    ("produce", "expected_class", "is_outage"),
    [
        pytest.param(_refused, ConnectionRefusedError, True, id="refused"),
        pytest.param(
            _terminated_in_flight,
            asyncpg.ConnectionDoesNotExistError,
            True,
            id="terminated-in-flight",
        ),
        pytest.param(
            _shutting_down, asyncpg.CannotConnectNowError, True, id="shutting-down"
        ),
        pytest.param(
            _too_many_connections,
            asyncpg.TooManyConnectionsError,
            True,
            id="too-many-connections",
        ),
        pytest.param(_acquire_timeout, TimeoutError, True, id="pool-acquire-timeout"),
        pytest.param(_command_timeout, TimeoutError, True, id="command-timeout"),
        # Not produced for real here: asyncpg reports a terminated session as
        # ConnectionDoesNotExistError, and a reset needs a network in between.
        pytest.param(
            _given(asyncpg.AdminShutdownError("terminating connection")),
            asyncpg.AdminShutdownError,
            True,
            id="admin-shutdown",
        ),
        pytest.param(
            _given(asyncpg.CrashShutdownError("terminating connection")),
            asyncpg.CrashShutdownError,
            True,
            id="crash-shutdown",
        ),
        pytest.param(
            _given(ConnectionResetError(104, "Connection reset by peer")),
            ConnectionResetError,
            True,
            id="connection-reset",
        ),
        pytest.param(
            _given(DatabaseUnavailable(ConnectionRefusedError())),
            DatabaseUnavailable,
            True,
            id="database-unavailable",
        ),
        pytest.param(
            _statement_timeout,
            asyncpg.QueryCanceledError,
            False,
            id="statement-timeout-57014",
        ),
        pytest.param(_syntax_error, asyncpg.PostgresSyntaxError, False, id="syntax"),
        pytest.param(
            _unique_violation, asyncpg.UniqueViolationError, False, id="unique"
        ),
        pytest.param(
            _unknown_database,
            asyncpg.InvalidCatalogNameError,
            False,
            id="unknown-database",
        ),
        # A bare InterfaceError is what misuse raises too; a connection that died
        # inside a Database scope is told apart by its state (tests below).
        pytest.param(
            _used_after_close, asyncpg.InterfaceError, False, id="used-after-close"
        ),
        pytest.param(_disk_error, FileNotFoundError, False, id="disk-not-database"),
    ],
)
async def test_is_unavailable(
    postgres: LocalPostgres,
    produce: Produce,
    expected_class: type[BaseException],
    is_outage: bool,
):
    error = await produce(postgres)

    assert type(error) is expected_class
    assert is_unavailable(error) is is_outage


@pytest.fixture
async def db(postgres: LocalPostgres) -> AsyncIterator[Database]:
    pool = await asyncpg.create_pool(postgres.url, min_size=0, max_size=3)
    database = Database(pool)
    yield database
    await database.close()


async def _terminate(postgres: LocalPostgres, conn: asyncpg.Connection) -> None:
    """End `conn`'s session from outside and wait until the client has seen it."""
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _: lost.set())
    async with _session(postgres) as admin:
        await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
    await asyncio.wait_for(lost.wait(), 5)


async def _dies_mid_transaction(db: Database, postgres: LocalPostgres) -> None:
    async with db.transaction() as conn:
        await conn.execute("SELECT 1")
        await _terminate(postgres, conn)
        await conn.execute("SELECT 2")


async def test_a_connection_that_dies_mid_transaction_is_unavailable(db, postgres):
    with pytest.raises(DatabaseUnavailable) as raised:
        await _dies_mid_transaction(db, postgres)

    # What escaped the driver is a bare InterfaceError; the state made it an outage.
    assert isinstance(raised.value.__cause__, asyncpg.InterfaceError)
    assert raised.value.reason == "InterfaceError"
    await db.ping()  # the pool recovered by itself


async def test_a_connection_failure_replaces_every_pooled_connection(db, postgres):
    async def pid() -> int:
        async with db.connection() as conn:
            await asyncio.sleep(0.05)  # overlap, so three connections are pooled
            return int(conn.get_server_pid())

    before = set(await asyncio.gather(pid(), pid(), pid()))
    with pytest.raises(DatabaseUnavailable):
        await _dies_mid_transaction(db, postgres)
    after = set(await asyncio.gather(pid(), pid(), pid()))

    assert len(before) == 3
    assert before.isdisjoint(after)  # idle ones too: none is handed out stale


async def test_programming_errors_pass_through_and_keep_the_pool(db):
    async def pids() -> int:
        async with db.connection() as conn:
            return int(conn.get_server_pid())

    async def run(*statements: str) -> None:
        async with db.transaction() as conn:
            for statement in statements:
                await conn.execute(statement)

    first = await pids()
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await run("SELEC 1")
    with pytest.raises(asyncpg.UniqueViolationError):
        await run(
            "CREATE TEMP TABLE u (id int PRIMARY KEY)", "INSERT INTO u VALUES (1), (1)"
        )

    assert await pids() == first  # not expired: nothing was wrong with the connection


async def test_a_timeout_is_unavailable_but_keeps_the_pool(db):
    async def slow() -> int:
        async with db.connection() as conn:
            pid = int(conn.get_server_pid())
            await conn.execute("SELECT pg_sleep(5)", timeout=0.05)
            return pid

    async def pid() -> int:
        async with db.connection() as conn:
            return int(conn.get_server_pid())

    first = await pid()
    with pytest.raises(DatabaseUnavailable) as raised:
        await slow()

    assert raised.value.reason == "TimeoutError"
    assert await pid() == first  # overload: the live connections are not dropped


async def test_an_unreachable_server_is_unavailable_at_acquire():
    pool = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", min_size=0
    )
    db = Database(pool)
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            await db.ping()
    finally:
        await db.close()

    assert raised.value.reason == "ConnectionRefusedError"


async def test_a_programming_error_through_the_api_stays_500(
    postgres, postgres_url, tmp_path
):
    """A real one, no patching: the schema is not what the code expects."""
    app = create_app(make_settings(postgres_url, tmp_path))
    async with _session(postgres) as admin:
        await admin.execute("ALTER TABLE conversations RENAME TO conversations_moved")
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url=PUBLIC_BASE_URL
            ) as client:
                response = await client.get("/v1/conversations", headers=AUTH)
                metrics = (await client.get("/metrics")).text
    finally:
        async with _session(postgres) as admin:
            await admin.execute(
                "ALTER TABLE conversations_moved RENAME TO conversations"
            )

    assert response.status_code == 500
    assert "retry-after" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
    assert 'omniroute_http_server_errors_total{status="500"} 1.0' in metrics
