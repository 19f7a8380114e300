"""The OpenAPI document tells the truth about errors: every problem an operation can
answer is declared with `problems(...)`, and the app's document gains the Problem
schemas and loses FastAPI's default 422 (`HTTPValidationError`), which we never send."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

__all__ = ["MEDIA_TYPE", "Responses", "install", "problems"]

MEDIA_TYPE = "application/problem+json"
_REF = "#/components/schemas/"
# FastAPI's `responses=`: status to OpenAPI Response Object.
Responses = dict[int | str, dict[str, object]]

_PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document. A problem type may add extension "
    "members (e.g. `setting`, `field`, `survivor_id`).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "description": "`{public_base_url}/problems/{slug}`",
        },
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path."},
    },
    "additionalProperties": True,
}
_VALIDATION_PROBLEM: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "A 422 problem. `errors` lists each invalid request field; it is "
    "absent when a connector or the rules file rejected the payload itself.",
    "allOf": [{"$ref": _REF + "Problem"}],
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {
                        "type": "string",
                        "description": "`/{location}/{field}...`, e.g. `/query/limit`",
                    },
                    "detail": {"type": "string"},
                },
            },
        }
    },
}
_DESCRIPTIONS = {
    308: "The customer was merged: repeat the request at `Location`, the survivor's URL",
    400: "Bad request (a parameter or body that parses but cannot be used)",
    401: "Authentication failed (bearer token on /v1, signature on webhooks)",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed; `Allow` lists the methods of this path",
    409: "Conflict with the resource's current state",
    413: "Request body larger than the configured limit",
    422: "Request invalid, or payload rejected",
    503: "Service unavailable (database down, or a connector not configured)",
}
_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    308: {
        "Location": {
            "required": True,
            "schema": {"type": "string"},
            "description": "The same path and query with the survivor's id.",
        }
    },
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": 'On /v1: `Bearer realm="omniroute"`.',
        }
    },
    405: {"Allow": {"required": True, "schema": {"type": "string"}}},
    503: {
        "Retry-After": {
            "schema": {"type": "string"},
            "description": "Seconds; sent when the database is unavailable.",
        }
    },
}


def problems(*statuses: int, notes: Mapping[int, str] | None = None) -> Responses:
    """`responses=` for these problem statuses; `notes` refine a description."""
    return {
        status: _problem_response(status, (notes or {}).get(status))
        for status in statuses
    }


def _problem_response(status: int, note: str | None) -> dict[str, object]:
    schema = "ValidationProblem" if status == 422 else "Problem"
    response: dict[str, object] = {
        "description": note or _DESCRIPTIONS[status],
        "content": {MEDIA_TYPE: {"schema": {"$ref": _REF + schema}}},
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


_NO_NUL = "^[^\\x00]*$"  # jsonb cannot store U+0000
# What PATCH accepts in `attributes` (app/api/storable.py checks it, and depth/size).
STORABLE_JSON_VALUE: dict[str, Any] = {
    "description": "Any JSON value without NUL characters, nested at most 32 deep,"
    " at most 64 KiB in all; NaN and Infinity are not JSON.",
    "anyOf": [
        {"type": "string", "pattern": _NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": f"{_REF}StorableJsonValue"}},
        {
            "type": "object",
            "propertyNames": {"pattern": _NO_NUL},
            "additionalProperties": {"$ref": f"{_REF}StorableJsonValue"},
        },
    ],
}
STORABLE_OBJECT: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": _NO_NUL},
    "additionalProperties": {"$ref": f"{_REF}StorableJsonValue"},
}


def install(app: FastAPI) -> None:
    """Wrap the app's OpenAPI generation so the document carries the Problem schemas."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_problems(generate())  # FastAPI caches it in app.openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_problems(document: dict[str, Any]) -> None:
    """Add the Problem schemas; swap FastAPI's default 422 for the one we send."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(
        Problem=_PROBLEM,
        ValidationProblem=_VALIDATION_PROBLEM,
        StorableJsonValue=STORABLE_JSON_VALUE,
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if _DEFAULT_422 in json.dumps(responses.get("422", {})):
                responses["422"] = _problem_response(422, None)
    # Only FastAPI's default 422 used these; drop them once nothing refers to them.
    for name in ("HTTPValidationError", "ValidationError"):
        if json.dumps(document).count(f'"{_REF}{name}"') == 0:
            schemas.pop(name, None)


_DEFAULT_422 = f'"{_REF}HTTPValidationError"'
