"""Run Alembic programmatically: `omniroute migrate`, `omniroute dev` and the tests share this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: URL) -> None:
    """`alembic upgrade head`; blocking, call it from a thread inside an event loop."""
    command.upgrade(alembic_config(database_url), "head")


def check(database_url: URL) -> None:
    """`alembic check`: raises when the models and migrations have drifted apart."""
    command.check(alembic_config(database_url))
