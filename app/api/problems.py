"""RFC 9457 problem documents: every error the API returns is rendered here."""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.errors import (  # re-exported: the API layer names problems from here
    BadRequest,
    Conflict,
    NotFound,
    PayloadRejected,
    Problem,
    ServiceUnavailable,
)

__all__ = [
    "BadRequest",
    "Conflict",
    "ConnectorNotConfigured",
    "Forbidden",
    "NotFound",
    "PayloadRejected",
    "PayloadTooComplex",
    "PayloadTooLarge",
    "Problem",
    "ServiceBusy",
    "ServiceUnavailable",
    "SignatureRejected",
    "Unauthorized",
    "install",
    "problem",
    "problem_response",
]
log = structlog.get_logger(__name__)
MEDIA_TYPE = "application/problem+json"


class Unauthorized(Problem):
    status, title, slug = 401, "Authentication required", "unauthorized"


class SignatureRejected(Problem):
    status, title, slug = 401, "Webhook signature rejected", "signature-rejected"


class Forbidden(Problem):
    status, title, slug = 403, "Forbidden", "forbidden"


class PayloadTooLarge(Problem):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class PayloadTooComplex(Problem):
    status, title, slug = 422, "Payload too complex", "payload-too-complex"


class ServiceBusy(Problem):
    status, title, slug = 503, "Service busy", "service-busy"


class ConnectorNotConfigured(Problem):
    status, title, slug = 503, "Connector not configured", "connector-not-configured"


_STATUS_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
}


def problem(
    base_url: str,
    path: str,
    *,
    status: int,
    title: str,
    slug: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
) -> JSONResponse:
    """The one renderer of RFC 9457 documents (handlers and middleware both use it)."""
    body: dict[str, object] = {
        "type": f"{base_url}/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path,
        **(extensions or {}),
    }
    return JSONResponse(
        body, status, headers=dict(headers or {}), media_type=MEDIA_TYPE
    )


def problem_response(
    request: Request,
    *,
    status: int,
    title: str,
    slug: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
) -> JSONResponse:
    base = getattr(request.app.state, "public_base_url", "")
    return problem(
        base,
        request.url.path,
        status=status,
        title=title,
        slug=slug,
        detail=detail,
        headers=headers,
        extensions=extensions,
    )


async def _on_problem(request: Request, problem: Exception) -> JSONResponse:
    assert isinstance(problem, Problem)
    return problem_response(
        request,
        status=problem.status,
        title=problem.title,
        slug=problem.slug,
        detail=problem.detail,
        headers=problem.headers_for(request.url.path, request.url.query),
        extensions=problem.extensions,
    )


async def _on_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"pointer": "/" + "/".join(str(p) for p in e["loc"]), "detail": e["msg"]}
        for e in error.errors()
    ]
    log.info("request.rejected", reason="validation", path=request.url.path)
    return problem_response(
        request,
        status=422,
        title="Request invalid",
        slug="request-invalid",
        detail="; ".join(f"{e['pointer']}: {e['detail']}" for e in errors),
        extensions={"errors": errors},
    )


async def _on_http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    title = _STATUS_TITLES.get(error.status_code, "HTTP error")
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(
        request,
        status=error.status_code,
        title=title,
        slug=title.lower().replace(" ", "-"),
        detail=str(error.detail),
        headers=headers,
    )


def _allowed_methods(request: Request) -> str:
    """Every method the app routes for this path (RFC 9110 §15.5.6 `Allow`).

    Starlette's 405 names the methods of the first route whose path matched, which
    leaves out PATCH next to GET on /v1/customers/{id}; asking the router about each
    method sees every route of the path, however FastAPI nests included routers.
    """
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in routes
        )
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
