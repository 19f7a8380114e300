"""The KPIs over an interval: counts, response and resolution times, handle time,
first-contact resolution, SLA attainment and CSAT."""

from __future__ import annotations

from app.db import Database
from app.repositories.stats import Spread, Stats, StatsRows, StatsScope

__all__ = ["Spread", "StatsRows", "StatsScope", "compute"]


async def compute(db: Database, scope: StatsScope) -> StatsRows:
    """An interval with `to` not after `from` holds no conversations: all zeros."""
    async with db.transaction() as conn:
        return await Stats(conn).compute(scope)
