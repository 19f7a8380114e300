"""Reading a provider's HTTP answer: status classes, Retry-After, JSON bodies.

Verdict by status for an answer that is not a success (RFC 9110 section 15):
- 429 Too Many Requests and 503 Service Unavailable: refused before it was acted
  on, so `retry` (with the `Retry-After` delay when given);
- any other 5xx (500, 502, 504, ...): the request may have been acted on, `unknown`;
- any other 4xx: refused for good, `failed`, with the provider's code and text;
- anything else unexpected (1xx, 3xx: we follow no redirect on a POST): `unknown`.
Each provider module reads its own 2xx bodies and error documents, and calls
`by_status` with the code and text it found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Final

from outbound.model import SendOutcome, Verdict

_RETRY_STATUSES: Final = frozenset({429, 503})
_BODY_EXCERPT: Final = 300


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name in `headers`."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `Retry-After` (RFC 9110 section 10.2.3), else None.

    A delay in seconds is taken as is. An HTTP-date is measured against the answer's
    own `Date` header, since this module has no clock; without one it is None.
    """
    value = header(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    return _seconds_between(header(headers, "date"), value)


def _seconds_between(start: str | None, end: str) -> float | None:
    if start is None:
        return None
    try:
        delta = parsedate_to_datetime(end) - parsedate_to_datetime(start)
    except (TypeError, ValueError):  # unparsable, or one naive and one aware
        return None
    return max(delta.total_seconds(), 0.0)


def json_object(body: bytes) -> Mapping[str, object] | None:
    """The JSON object in `body`, or None for anything else (not JSON, an array)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return document if isinstance(document, dict) else None


def member(document: object, *path: str) -> object:
    """`document[a][b]...`, or None where a step is missing or not an object."""
    node: object = document
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def text(value: object) -> str | None:
    """A non-empty string, or a number as text (provider codes come as both)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def excerpt(body: bytes) -> str | None:
    """The start of an answer body as text, for an error message; None if blank."""
    shown = body[: _BODY_EXCERPT * 4].decode("utf-8", "replace").strip()
    return shown[:_BODY_EXCERPT] or None


def is_success(status: int) -> bool:
    return 200 <= status < 300


def by_status(
    status: int,
    headers: Mapping[str, str],
    *,
    code: str | None = None,
    message: str | None = None,
    retry_seconds: float | None = None,
) -> SendOutcome:
    """The outcome of a non-2xx answer; code defaults to the status, text to its phrase.

    `retry_seconds` is a provider's own wait (Telegram's `retry_after`); without one,
    a retry waits what `Retry-After` says.
    """
    verdict = _verdict(status)
    if retry_seconds is None and verdict is Verdict.retry:
        retry_seconds = retry_after(headers)
    return SendOutcome(
        verdict=verdict,
        error_code=code or str(status),
        error_message=message or _phrase(status),
        retry_after_seconds=retry_seconds,
    )


def retry(headers: Mapping[str, str], *, code: str, message: str | None) -> SendOutcome:
    """A refusal that says nothing was done (a provider's throttling code)."""
    return SendOutcome(
        verdict=Verdict.retry,
        error_code=code,
        error_message=message,
        retry_after_seconds=retry_after(headers),
    )


def no_message_id(status: int, body: bytes) -> SendOutcome:
    """A 2xx we cannot read an id from: it may have been sent, so never re-send it."""
    shown = excerpt(body)
    detail = f": {shown}" if shown else " (empty body)"
    return SendOutcome(
        verdict=Verdict.unknown,
        error_code=str(status),
        error_message=f"{status} answer without a readable message id{detail}",
    )


def _verdict(status: int) -> Verdict:
    if status in _RETRY_STATUSES:
        return Verdict.retry
    if 400 <= status < 500:
        return Verdict.failed
    return Verdict.unknown


def _phrase(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"
