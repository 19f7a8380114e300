"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import Db, MetricsDep, RelayDep, Rules
from app.api.middleware import RETRY_AFTER_SECONDS
from app.assignment import queues
from app.db import Database, DatabaseUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(db: Db, relay: RelayDep) -> JSONResponse:
    """503 while the database is unreachable; Kafka or relay trouble is reported
    (`degraded`), not fatal: webhooks are still stored and the outbox catches up."""
    checks: dict[str, object] = {"database": await _database(db)}
    if relay is None:
        checks["kafka"] = "disabled"
    else:
        checks["kafka"] = relay.status.kafka
        checks["relay"] = relay.status.role
        if relay.status.last_error:
            checks["kafka_error"] = relay.status.last_error
        if relay.status.database_error:
            checks["relay_error"] = (
                f"database unavailable: {relay.status.database_error}"
            )
    is_ready = checks["database"] == "ok"
    degraded = (
        checks["kafka"] not in {"ok", "disabled"}
        or checks.get("relay") == "reconnecting"
    )
    status = (
        "ok"
        if is_ready and not degraded
        else ("degraded" if is_ready else "unavailable")
    )
    return JSONResponse(
        {"status": status, "checks": checks},
        status_code=200 if is_ready else 503,
        headers=None if is_ready else {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database(db: Database) -> str:
    try:
        await db.ping()
    except DatabaseUnavailable as error:
        return f"unavailable: {error.reason}"
    except Exception as error:  # any failure here means "not ready", with the reason
        return f"unavailable: {type(error).__name__}"
    return "ok"


@router.get("/metrics", response_class=Response)
async def metrics(registry: MetricsDep, db: Db, rules: Rules) -> Response:
    """Prometheus text format; queue gauges are read from the database at each scrape
    (left as they were when it is unavailable)."""
    with contextlib.suppress(Exception):  # a scrape never fails for them
        await queues.refresh_gauges(db, rules, registry)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
