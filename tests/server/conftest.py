"""A real uvicorn server with the limited protocol, and a raw-socket client for it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from app.main import create_app
from app.server import HttpLimits, bind
from tests.conftest import make_settings

# Short timeouts so the slow-client tests take about a second each.
LIMITS = HttpLimits(header_timeout=1.0, body_timeout=1.0)


@dataclass(frozen=True)
class Live:
    host: str
    port: int
    base: str


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, object]:
        assert self.headers["content-type"] == "application/problem+json"
        document: dict[str, object] = json.loads(self.body)
        return document


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory) -> Iterator[Live]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("attachments"), public_base_url=base
    )
    limits = HttpLimits(
        header_timeout=LIMITS.header_timeout,
        body_timeout=LIMITS.body_timeout,
        problem_base_url=base,
    )
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        http=bind(limits),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield Live("127.0.0.1", port, base)
    server.should_exit = True
    thread.join(10)


def parse(raw: bytes) -> Reply:
    """One HTTP/1.1 response with a Content-Length body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, body)


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    reply = parse(head)
    body = await reader.readexactly(int(reply.headers.get("content-length", "0")))
    return Reply(reply.status, reply.headers, body)


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes (fails if it does not)."""
    chunks = []
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(65536):
            chunks.append(chunk)
    return b"".join(chunks)
