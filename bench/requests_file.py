"""Pre-rendered HTTP/1.1 requests in a file that bench/replay.lua replays with wrk.

Format: a first line with the record count, then per record a line with its byte
length followed by exactly that many bytes of a complete request (request line,
headers, body). wrk sends each record verbatim, so the Lua side does no work per
request beyond a table lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path


def render(
    method: str,
    target: str,
    host: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if method != "GET" or body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write(path: Path, records: Iterable[bytes]) -> int:
    """Write the records; returns how many."""
    items = list(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(f"{len(items)}\n".encode())
        for item in items:
            handle.write(f"{len(item)}\n".encode())
            handle.write(item)
    return len(items)
