"""GET /v1/stats: the contact-centre KPIs over conversations opened in an interval."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from app.api.assignment_schemas import Channel
from app.api.deps import CurrentSettings, Db, require_token
from app.api.openapi import problems
from app.sla import stats
from app.sla.stats import Spread, StatsRows, StatsScope

router = APIRouter(
    prefix="/v1/stats", tags=["stats"], dependencies=[Depends(require_token)]
)
_NAME = r"^[A-Za-z0-9._@:-]{1,128}$"
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def _rfc3339(value: object) -> object:
    """Only an RFC 3339 date-time with its offset (pydantic would also take a
    number of seconds since 1970)."""
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        raise ValueError("must be an RFC 3339 date-time with an offset")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class Times(BaseModel):
    median_seconds: float | None
    p90_seconds: float | None


class TimesWithTarget(Times):
    within_target: float | None = Field(
        description="share (0..1) within the SLA target"
    )


class AgentTimes(Times):
    conversations: int


class HandleTime(Times):
    by_agent: dict[str, AgentTimes]


class Counts(BaseModel):
    opened: int
    closed: int
    reopened: int


class Csat(BaseModel):
    average: float | None
    distribution: dict[str, int]
    responses: int
    response_rate: float | None


class Filters(BaseModel):
    queue: str | None
    channel: str | None
    agent_id: str | None
    business_hours: bool


class StatsOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    filters: Filters
    conversations: Counts
    first_response: TimesWithTarget
    next_response: TimesWithTarget
    resolution: TimesWithTarget
    handle_time: HandleTime
    fcr_rate: float | None
    sla_attainment: dict[str, float | None]
    csat: Csat


def _times(spread: Spread) -> TimesWithTarget:
    return TimesWithTarget(
        median_seconds=spread.median_seconds,
        p90_seconds=spread.p90_seconds,
        within_target=spread.within_target,
    )


def _out(scope: StatsScope, rows: StatsRows) -> StatsOut:
    distribution = {str(n): rows.csat_distribution.get(n, 0) for n in range(1, 6)}
    return StatsOut.model_validate(
        {
            "from": scope.start,
            "to": scope.end,
            "filters": Filters(
                queue=scope.queue,
                channel=scope.channel,
                agent_id=scope.agent_id,
                business_hours=scope.business_hours,
            ),
            "conversations": Counts(
                opened=rows.opened, closed=rows.closed, reopened=rows.reopened
            ),
            "first_response": _times(rows.first_response),
            "next_response": _times(rows.next_response),
            "resolution": _times(rows.resolution),
            "handle_time": HandleTime(
                median_seconds=rows.handle_time.median_seconds,
                p90_seconds=rows.handle_time.p90_seconds,
                by_agent={
                    agent: AgentTimes(
                        median_seconds=s.median_seconds,
                        p90_seconds=s.p90_seconds,
                        conversations=s.count,
                    )
                    for agent, s in rows.handle_by_agent.items()
                },
            ),
            "fcr_rate": rows.fcr / rows.closed if rows.closed else None,
            "sla_attainment": {
                m: rows.attainment.get(m)
                for m in ("first_response", "next_response", "resolution")
            },
            "csat": Csat(
                average=rows.csat_average,
                distribution=distribution,
                responses=rows.csat_responses,
                response_rate=rows.csat_responses / rows.surveys
                if rows.surveys
                else None,
            ),
        }
    )


@router.get(
    "",
    response_model=StatsOut,
    response_model_by_alias=True,
    responses=problems(401, 422, 503),
)
async def get_stats(
    db: Db,
    settings: CurrentSettings,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    queue: Annotated[str | None, Query(pattern=_NAME)] = None,
    channel: Channel | None = None,
    agent_id: Annotated[str | None, Query(pattern=_NAME)] = None,
    business_hours: bool = False,
) -> StatsOut:
    """KPIs over conversations opened in [`from`, `to`) (default: the last 7 days).
    Times in seconds, shares 0..1; `business_hours=true` counts only time inside the
    rules file's opening hours."""
    end = to or datetime.now(UTC)
    start = from_ or end - timedelta(days=7)
    scope = StatsScope(
        start=start,
        end=end,
        queue=queue,
        channel=channel,
        agent_id=agent_id,
        business_hours=business_hours,
        fcr_window_days=settings.fcr_window_days,
    )
    return _out(scope, await stats.compute(db, scope))
