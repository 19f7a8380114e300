"""Models and migrations cannot drift: upgrade head, then an empty autogenerate diff."""

from __future__ import annotations

import asyncio

from app.migrate import check


async def test_models_match_migrations(database_url):
    await asyncio.to_thread(check, database_url)
