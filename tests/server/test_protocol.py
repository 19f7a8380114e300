"""The limited protocol on a real uvicorn, driven over raw sockets like a hostile client."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from structlog.testing import capture_logs

from app.server import HttpLimits, http_protocol
from tests.conftest import make_settings
from tests.server.conftest import LIMITS, parse, read_reply, read_to_eof

HEAD = b"GET /healthz HTTP/1.1\r\nHost: omniroute.test\r\n"


async def _app_line(logs: list[dict[str, object]]) -> dict[str, object]:
    """The app's `http.request` line, logged on its own time on the server thread."""
    async with asyncio.timeout(3):
        while not (lines := [line for line in logs if line["event"] == "http.request"]):
            await asyncio.sleep(0.02)
    return lines[0]


def _headers(count: int, size: int) -> bytes:
    return b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"a" * size) for i in range(count))


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason", "detail"),
    [
        pytest.param(
            HEAD + _headers(40, 1000) + b"\r\n",
            431,
            "headers_too_large",
            "request headers exceed 32768 bytes",
            id="40-KB-of-headers",
        ),
        pytest.param(
            HEAD + b"X-Endless: " + b"a" * 300_000,
            431,
            "headers_too_large",
            "request headers exceed 32768 bytes",
            id="one-header-without-end",
        ),
        pytest.param(
            HEAD + _headers(101, 1) + b"\r\n",
            431,
            "too_many_headers",
            "more than 100 request headers",
            id="101-headers",
        ),
        pytest.param(
            HEAD + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "header_line_too_long",
            "a header line exceeds 8192 bytes",
            id="one-9-KB-header",
        ),
        pytest.param(
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: omniroute.test\r\n\r\n",
            414,
            "url_too_long",
            "the URL exceeds 8192 bytes",
            id="9-KB-URL",
        ),
    ],
)
async def test_an_oversized_head_gets_a_problem_and_the_connection_closes(
    live, request_bytes, status, reason, detail
):
    reader, writer = await asyncio.open_connection(live.host, live.port)
    with capture_logs() as logs:
        writer.write(request_bytes)
        raw = await read_to_eof(reader)
    writer.close()

    reply = parse(raw)
    assert (reply.status, reply.headers["connection"]) == (status, "close")
    problem = reply.problem()
    assert set(problem) == {"type", "title", "status", "detail"}
    assert problem["status"] == status
    assert problem["detail"] == detail
    assert str(problem["type"]).startswith(f"{live.base}/problems/")
    rejected = [line for line in logs if line["event"] == "http.rejected"]
    assert len(rejected) == 1
    assert rejected[0]["reason"] == reason
    assert b"aaaa" not in repr(rejected[0]).encode()  # no header content logged


async def _slowloris(live, gap: float) -> tuple[bytes, float]:
    """Sends a request head one byte per `gap` seconds; what it got, and when."""
    reader, writer = await asyncio.open_connection(live.host, live.port)
    began = time.monotonic()

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for byte in HEAD + _headers(20, 10):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(gap)

    sender = asyncio.create_task(trickle())
    try:
        raw = await read_to_eof(reader)
    finally:
        sender.cancel()
        writer.close()
    return raw, time.monotonic() - began


async def _healthz_latency(live) -> float:
    reader, writer = await asyncio.open_connection(live.host, live.port)
    began = time.monotonic()
    writer.write(HEAD + b"\r\n")
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 200
    return time.monotonic() - began


async def test_a_slowloris_client_is_cut_off_while_others_are_served(live):
    slow = asyncio.create_task(_slowloris(live, gap=0.5))
    await asyncio.sleep(0.2)  # the slow client is connected and sending
    latency = await _healthz_latency(live)
    raw, lasted = await slow

    assert latency < 1.0
    reply = parse(raw)
    assert reply.status == 408
    assert reply.problem()["title"] == "Request timeout"
    # Cut off after the 1 s header timeout, not after the ~200 bytes it would take 100 s.
    assert LIMITS.header_timeout <= lasted < LIMITS.header_timeout + 2


async def test_a_silent_connection_is_closed_after_the_header_timeout(live):
    reader, writer = await asyncio.open_connection(live.host, live.port)
    raw = await read_to_eof(reader)
    writer.close()
    assert parse(raw).status == 408


async def test_keep_alive_restarts_the_header_timer_per_request(live):
    reader, writer = await asyncio.open_connection(live.host, live.port)
    writer.write(HEAD + b"\r\n")
    first = await read_reply(reader)
    # Idle past the header timeout (the keep-alive timeout, 5 s, governs idleness),
    # then send the next head in two parts, within the header timeout of its start.
    await asyncio.sleep(LIMITS.header_timeout + 0.3)
    writer.write(HEAD)
    await asyncio.sleep(LIMITS.header_timeout * 0.6)
    writer.write(b"Connection: close\r\n\r\n")
    second = await read_reply(reader)
    writer.close()
    assert (first.status, second.status) == (200, 200)
    assert "connection" not in first.headers


async def test_pipelined_requests_are_answered_in_order(live):
    reader, writer = await asyncio.open_connection(live.host, live.port)
    writer.write(
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Request-Id: one\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Request-Id: two\r\n\r\n"
    )
    replies = [await read_reply(reader), await read_reply(reader)]
    writer.close()
    assert [(r.status, r.headers["x-request-id"]) for r in replies] == [
        (200, "one"),
        (200, "two"),
    ]


async def test_a_stalled_body_is_cut_off(live):
    reader, writer = await asyncio.open_connection(live.host, live.port)
    began = time.monotonic()
    with capture_logs() as logs:
        writer.write(
            b"POST /webhooks/chat HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"partial":'
        )
        raw = await read_to_eof(reader)
        app_line = await _app_line(logs)
    writer.close()
    assert raw == b""  # the app was mid-request: closed without an answer
    assert app_line["status"] == 499  # it was told the client went away
    assert LIMITS.body_timeout <= time.monotonic() - began < LIMITS.body_timeout + 2
    assert [line["reason"] for line in logs if line["event"] == "http.rejected"] == [
        "body_timeout"
    ]


async def test_endless_trailers_close_the_connection(live):
    reader, writer = await asyncio.open_connection(live.host, live.port)
    with capture_logs() as logs:
        writer.write(
            b"POST /webhooks/chat HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
            b"\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: " + b"a" * 100_000
        )
        raw = await read_to_eof(reader)
        app_line = await _app_line(logs)
    writer.close()
    assert raw == b""  # the app was reading the body: closed without an answer
    assert app_line["status"] == 499
    assert [line["reason"] for line in logs if line["event"] == "http.rejected"] == [
        "trailers_too_large"
    ]


async def test_a_body_over_several_reads_is_not_a_head(live):
    """Body bytes are not counted against the head limit, however many reads."""
    reader, writer = await asyncio.open_connection(live.host, live.port)
    body = b"x" * 200_000
    writer.write(
        b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    for start in range(0, len(body), 50_000):
        writer.write(body[start : start + 50_000])
        await writer.drain()
        await asyncio.sleep(0.05)
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 405  # the app answered: GET only


def test_settings_reach_the_protocol(database_url, tmp_path):
    settings = make_settings(
        database_url,
        tmp_path,
        max_header_bytes=4096,
        max_headers=20,
        header_timeout_seconds=2.5,
    )
    assert http_protocol(settings).limits == HttpLimits(
        max_header_bytes=4096,
        max_headers=20,
        header_timeout=2.5,
        problem_base_url=settings.public_base_url,
    )
