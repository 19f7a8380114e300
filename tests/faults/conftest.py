"""A private PostgreSQL per fault-test module, migrated, that its tests may stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL, make_url

from app.migrate import upgrade
from tests.faults.postgres import LocalPostgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def postgres_url(postgres: LocalPostgres) -> URL:
    """The private server's `postgres` database, migrated to head."""
    url = make_url(postgres.url).set(drivername="postgresql+asyncpg")
    upgrade(url)
    return url
