"""The base of every error the service answers with: each class carries its RFC 9457
problem type (slug), title and HTTP status, so one handler renders them all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class Problem(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"  # type = f"{public_base_url}/problems/{slug}"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: object,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    def headers_for(self, path: str, query: str) -> dict[str, str]:
        """Response headers; a subclass may derive some from the request URL."""
        return self.headers


class BadRequest(Problem):
    status, title, slug = 400, "Bad request", "bad-request"


class NotFound(Problem):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(Problem):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadRejected(Problem):
    status, title, slug = 422, "Payload invalid", "payload-invalid"


class ServiceUnavailable(Problem):
    status, title, slug = 503, "Service unavailable", "service-unavailable"
