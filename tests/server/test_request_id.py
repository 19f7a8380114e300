"""X-Request-Id is echoed and logged only when short and plain; otherwise ours."""

from __future__ import annotations

import asyncio
import re

import pytest
import structlog
from structlog.testing import capture_logs

from tests.server.conftest import read_reply

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(b"\xff\xfe\xfd", id="not-utf-8"),
        pytest.param(b"a" * (1024 * 1024), id="1-MB"),
        pytest.param(b"a" * 129, id="129-chars"),
        pytest.param(b"id with spaces", id="spaces"),
        pytest.param("caf\u00e9".encode(), id="non-ascii-utf-8"),
    ],
)
async def test_an_unusable_request_id_is_replaced(client, given):
    with capture_logs([structlog.contextvars.merge_contextvars]) as logs:
        response = await client.get("/healthz", headers={"X-Request-Id": given})
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["x-request-id"])
    assert {line["request_id"] for line in logs} == {response.headers["x-request-id"]}


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("req-42", id="short"),
        pytest.param("gw:2026.12.02_abc-DEF", id="punctuated"),
        pytest.param("a" * 128, id="128-chars"),
    ],
)
async def test_a_plain_request_id_is_kept(client, given):
    response = await client.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


async def test_a_non_utf8_request_id_over_the_wire_gets_200(live):
    reader, writer = await asyncio.open_connection(live.host, live.port)
    writer.write(
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Request-Id: \xff\xfe\r\n"
        b"Connection: close\r\n\r\n"
    )
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 200
    assert GENERATED.fullmatch(reply.headers["x-request-id"])
