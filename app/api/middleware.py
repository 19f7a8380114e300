"""Pure ASGI middleware: request context and error boundary, and the streaming body limit."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem
from app.db import DatabaseUnavailable, is_unavailable
from app.metrics import Metrics

log = structlog.get_logger(__name__)
RETRY_AFTER_SECONDS = 5  # when the database is unavailable
# An incoming X-Request-Id is echoed and logged only when short and plain; else ours.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class BodyTooLarge(Exception):
    pass


class RequestContext:
    """Binds a request id to every log line, turns uncaught errors into problems
    (503 with Retry-After when the database is unavailable, else 500) and counts 5xx."""

    def __init__(self, app: ASGIApp, public_base_url: str, metrics: Metrics) -> None:
        self._app = app
        self._base = public_base_url
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"")
        is_usable = _REQUEST_ID.fullmatch(given) is not None
        request_id = given.decode("ascii") if is_usable else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = False
        status = 0
        begun = time.perf_counter()

        async def send_tracking(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self._app(scope, receive, send_tracking)
        except ClientDisconnect:
            status = (
                499  # the client went away before sending its body; nothing to answer
            )
        except Exception as error:
            if started:
                raise
            await self._render_failure(scope, send_tracking, error)
        finally:
            if status >= 500:
                self._metrics.http_server_errors.labels(status=str(status)).inc()
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - begun) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    async def _render_failure(self, scope: Scope, send: Send, error: Exception) -> None:
        path = scope.get("path", "")
        if isinstance(error, BodyTooLarge):
            await send_problem(
                send,
                self._base,
                path,
                413,
                "payload-too-large",
                "Payload too large",
                str(error),
            )
        elif is_unavailable(error):
            reason = (
                error.reason
                if isinstance(error, DatabaseUnavailable)
                else type(error).__name__
            )
            log.warning("database.unavailable", path=path, error=reason)
            await send_problem(
                send,
                self._base,
                path,
                503,
                "service-unavailable",
                "Service unavailable",
                "the database is unavailable; retry later",
                retry_after=RETRY_AFTER_SECONDS,
            )
        else:
            log.exception("request.failed", path=path)
            await send_problem(
                send,
                self._base,
                path,
                500,
                "internal",
                "Internal error",
                "an unexpected error occurred; it has been logged",
            )


class BodyLimit:
    """413 once more than `limit` bytes arrive; counts while streaming (chunked too)."""

    def __init__(self, app: ASGIApp, limit: int, public_base_url: str) -> None:
        self._app = app
        self._limit = limit
        self._base = public_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._limit:
            log.info(
                "request.rejected", reason="body_too_large", declared=int(declared)
            )
            await send_problem(
                send,
                self._base,
                scope["path"],
                413,
                "payload-too-large",
                "Payload too large",
                self._detail(),
            )
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._limit:
                log.info("request.rejected", reason="body_too_large", received=received)
                raise BodyTooLarge(self._detail())
            return message

        await self._app(scope, counting_receive, send)

    def _detail(self) -> str:
        return f"request body exceeds the limit of {self._limit} bytes"


async def send_problem(
    send: Send,
    base: str,
    path: str,
    status: int,
    slug: str,
    title: str,
    detail: str,
    retry_after: int | None = None,
) -> None:
    """Answer with a problem document from outside FastAPI's exception handlers."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    response = problem(
        base,
        path,
        status=status,
        title=title,
        slug=slug,
        detail=detail,
        headers=headers,
    )
    await response({"type": "http"}, _nothing_to_receive, send)


async def _nothing_to_receive() -> Message:
    return {"type": "http.disconnect"}
