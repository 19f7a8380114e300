"""One generic endpoint per registered connector, plus Meta's verification handshake."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from app.api import parse_pool
from app.api.deps import CurrentSettings
from app.api.openapi import Responses, problems
from app.api.parse_pool import ParsePool
from app.api.problems import (
    BadRequest,
    ConnectorNotConfigured,
    Forbidden,
    PayloadRejected,
    PayloadTooComplex,
    Problem,
    ServiceBusy,
    SignatureRejected,
)
from app.db import Database, is_unavailable
from app.events import EventConfig
from app.ingest import Ingestor, IngestResult, Outcome, ReplayRejected
from app.metrics import Metrics
from app.replies import statuses
from app.settings import Settings
from connectors import meta
from connectors.model import (
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    StatusUpdate,
    WebhookRequest,
)
from connectors.registry import CONNECTORS, Connector

log = structlog.get_logger(__name__)
# The router brings the pool: FastAPI merges its lifespan into the app's.
router = APIRouter(tags=["webhooks"], lifespan=parse_pool.lifespan)
_ERRORS = problems(
    400,
    401,
    413,
    422,
    503,
    notes={
        400: "The body does not parse as the provider's format",
        401: "Signature invalid, a replayed delivery, or a form too large to check",
        422: "The body parses but lacks what the connector needs, is over a"
        " parse limit, or took longer than PARSE_TIMEOUT_SECONDS to parse",
        503: "Connector not configured, the database is unavailable, or every"
        " parser is busy (Retry-After)",
    },
)


def _public_url(settings: Settings, request: Request) -> str:
    """The URL the provider signed: PUBLIC_BASE_URL, not what a proxy handed us."""
    query = request.url.query
    return settings.public_base_url + request.url.path + (f"?{query}" if query else "")


def _reject(
    connector: Connector, problem: Problem, reason: str, metrics: Metrics
) -> Problem:
    metrics.webhooks_rejected.labels(connector=connector.name, reason=reason).inc()
    log.warning(
        "webhook.rejected",
        connector=connector.name,
        reason=reason,
        status=problem.status,
        detail=problem.detail,
    )
    return problem


def _verified_request(
    connector: Connector,
    settings: Settings,
    request: Request,
    body: bytes,
    metrics: Metrics,
) -> WebhookRequest:
    secret = settings.secret(connector.secret_setting)
    if secret is None:
        setting = f"OMNIROUTE_{connector.secret_setting.upper()}"
        raise _reject(
            connector,
            ConnectorNotConfigured(
                f"the {connector.name} connector is disabled until {setting} is set",
                setting=setting,
            ),
            "not_configured",
            metrics,
        )
    headers = {name.lower(): value for name, value in request.headers.items()}
    req = WebhookRequest(
        body=body,
        headers=headers,
        url=_public_url(settings, request),
        received_at=datetime.now(UTC),
        form_limits=settings.form_limits(),
    )
    try:
        connector.verify(req, secret)
    except SignatureInvalid as error:
        raise _reject(
            connector, SignatureRejected(error.reason), "signature_invalid", metrics
        ) from None
    return req


def _endpoint(connector: Connector) -> Callable[..., Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        # The hot path reads app.state directly: four resolved dependencies cost
        # more per webhook than the lookups they wrap.
        state = request.app.state
        settings: Settings = state.settings
        ingestor: Ingestor = state.ingestor
        metrics: Metrics = state.metrics
        pool: ParsePool = state.parse_pool
        started = time.perf_counter()
        try:
            response = await _handle(
                connector, request, settings, ingestor, metrics, pool
            )
        except Exception as error:
            if is_unavailable(error):
                metrics.webhooks_rejected.labels(
                    connector=connector.name, reason="database_unavailable"
                ).inc()
            raise
        metrics.webhooks_accepted.labels(connector=connector.name).inc()
        metrics.ingest_seconds.labels(connector=connector.name).observe(
            time.perf_counter() - started
        )
        return response

    receive.__name__ = f"receive_{connector.name}"
    receive.__doc__ = f"Inbound {connector.name} webhook: verify, parse, store, 200."
    return receive


async def _handle(
    connector: Connector,
    request: Request,
    settings: Settings,
    ingestor: Ingestor,
    metrics: Metrics,
    pool: ParsePool,
) -> Response:
    """Verify, parse and store every message of one request, then acknowledge."""
    req = _verified_request(connector, settings, request, await request.body(), metrics)
    parsed, nonce = await _read(connector, req, settings, metrics, pool)
    results: list[IngestResult] = []
    for message in parsed.messages:
        try:
            results.append(
                await ingestor.ingest(
                    message,
                    connector=connector.name,
                    received_at=req.received_at,
                    nonce=nonce,
                )
            )
        except ReplayRejected as error:
            raise _reject(
                connector, SignatureRejected(str(error)), "replayed", metrics
            ) from None
        if results[-1].decision is not None:
            metrics.decisions.labels(queue=results[-1].decision.queue).inc()
    if parsed.statuses:
        await _apply_statuses(request, parsed.statuses, req.received_at, metrics)
    stored = sum(r.outcome is Outcome.stored for r in results)
    rated = sum(r.outcome is Outcome.rated for r in results)
    # One line per request: these ride on the middleware's `http.request` line.
    structlog.contextvars.bind_contextvars(
        connector=connector.name,
        messages=len(results),
        stored=stored,
        duplicates=len(results) - stored - rated,
        **({"ratings": rated} if rated else {}),
        bytes=len(req.body),
    )
    return Response(connector.ack.body, media_type=connector.ack.media_type)


async def _read(
    connector: Connector,
    req: WebhookRequest,
    settings: Settings,
    metrics: Metrics,
    pool: ParsePool,
) -> tuple[Parsed, str | None]:
    """The body's messages and replay key; a problem when none can be stored."""
    try:
        parsed, nonce = await _parse(connector, req, settings, pool)
    except PayloadInvalid as error:
        invalid = (BadRequest if error.field == "body" else PayloadRejected)(
            str(error), field=error.field
        )
        raise _reject(connector, invalid, "payload_invalid", metrics) from None
    except PayloadTooComplex as problem:
        raise _reject(connector, problem, "parse_timeout", metrics) from None
    except ServiceBusy as problem:
        raise _reject(connector, problem, "parsers_busy", metrics) from None
    for item in parsed.rejected:
        metrics.webhooks_rejected.labels(
            connector=connector.name, reason="message_invalid"
        ).inc()
        log.warning(
            "webhook.message_rejected",
            connector=connector.name,
            index=item.index,
            field=item.field,
            reason=item.reason,
        )
    if parsed.rejected and not parsed.messages and not parsed.statuses:
        first = parsed.rejected[0]
        refused = PayloadRejected(f"{first.field}: {first.reason}", field=first.field)
        raise _reject(connector, refused, "payload_invalid", metrics)
    return parsed, nonce


async def _parse(
    connector: Connector, req: WebhookRequest, settings: Settings, pool: ParsePool
) -> tuple[Parsed, str | None]:
    """The messages and replay key of a verified body, parsed off the loop if costly."""

    def work() -> tuple[Parsed, str | None]:
        parsed = connector.parse(req.body, req.headers)
        key = connector.replay_key
        return parsed, (key(req.body, req.headers) if key else None)

    # MIME at any size, and anything large. A small JSON or form body parses in
    # microseconds, less than the hop to a thread and back would cost.
    if connector.has_mime_body or len(req.body) > settings.parse_inline_bytes:
        return await pool.run(work)
    return work()


async def _apply_statuses(
    request: Request,
    updates: tuple[StatusUpdate, ...],
    received_at: datetime,
    metrics: Metrics,
) -> None:
    """Delivery statuses of our sends, after the request's messages are stored."""
    db: Database = request.app.state.db  # what the Db and Events dependencies read
    events: EventConfig = request.app.state.events
    outcomes = await statuses.apply(db, events, updates, received_at)
    for update, outcome in zip(updates, outcomes, strict=True):
        metrics.delivery_statuses.labels(
            provider=update.provider, outcome=outcome.value
        ).inc()
    structlog.contextvars.bind_contextvars(
        statuses=len(updates),
        statuses_changed=sum(o is statuses.Applied.changed for o in outcomes),
    )


def _acknowledged(connector: Connector) -> Responses:
    ack: Responses = {
        200: {
            "description": "Stored, or a duplicate of a stored delivery",
            "content": {connector.ack.media_type: {}},
        }
    }
    return ack | _ERRORS


for _connector in CONNECTORS:
    router.add_api_route(
        _connector.path,
        _endpoint(_connector),
        methods=["POST"],
        responses=_acknowledged(_connector),
        response_class=Response,
    )

# Meta's handshake reads these from the raw query (their names contain dots).
_HANDSHAKE = {
    "parameters": [
        {"name": name, "in": "query", "schema": {"type": "string"}}
        for name in ("hub.mode", "hub.verify_token", "hub.challenge")
    ]
}


@router.get(
    "/webhooks/meta",
    response_class=PlainTextResponse,
    responses=problems(
        403,
        503,
        notes={
            403: "hub.mode is not subscribe or the verify token does not match",
            503: "OMNIROUTE_META_VERIFY_TOKEN is not set",
        },
    ),
    openapi_extra=_HANDSHAKE,
)
async def meta_handshake(
    request: Request, settings: CurrentSettings
) -> PlainTextResponse:
    """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
    token = settings.secret("meta_verify_token")
    if token is None:
        raise ConnectorNotConfigured(
            "set OMNIROUTE_META_VERIFY_TOKEN to subscribe Meta webhooks",
            setting="OMNIROUTE_META_VERIFY_TOKEN",
        )
    challenge = meta.verify_handshake(dict(request.query_params), token)
    if challenge is None:
        log.warning(
            "webhook.rejected",
            connector="meta",
            reason="verify_token_mismatch",
            status=403,
        )
        raise Forbidden("hub.mode must be subscribe and hub.verify_token must match")
    return PlainTextResponse(challenge)
