"""The HTTP server below the ASGI app: uvicorn's httptools protocol with limits."""

from __future__ import annotations

from app.server.protocol import HttpLimits, LimitedHttpToolsProtocol, bind
from app.settings import Settings

__all__ = ["HttpLimits", "LimitedHttpToolsProtocol", "bind", "http_protocol"]


def http_protocol(settings: Settings) -> type[LimitedHttpToolsProtocol]:
    """The class to pass as `uvicorn.Config(http=...)` for these settings."""
    return bind(
        HttpLimits(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout=settings.header_timeout_seconds,
            problem_base_url=settings.public_base_url,
        )
    )
