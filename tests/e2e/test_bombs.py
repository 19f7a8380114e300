"""Hostile bodies against the real server: each gets its 4xx and nothing stalls.

The server is uvicorn on a thread with the production HTTP protocol; the bombs and
one legitimate SMS go at once over real sockets while a second client times
GET /healthz every 20 ms. The bound asserted is generous (this process also runs
the clients); `python -m tests.bomb_latency` measures with the server in its own
process.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import text

from app.main import create_app
from app.server import http_protocol
from tests.bombs import barrage, bombs, legit_sms
from tests.conftest import make_settings

LEGIT_SID = "SM" + "b0" * 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live(database_url, tmp_path, engine) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, tmp_path, public_base_url=base)
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        http=http_protocol(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield base
    server.should_exit = True
    thread.join(10)


async def test_bombs_get_their_4xx_while_healthz_keeps_answering(live, engine):
    # Three rounds: the legitimate SMS is sent three times and stored once.
    result = await barrage(live, legit_sms(live, LEGIT_SID), rounds=3)

    expected = {bomb.name: (bomb.status, bomb.slug) for bomb in bombs()}
    for answers in result.rounds:
        assert {
            name: (answer.status_code, answer.json()["type"].rpartition("/")[2])
            for name, answer in answers.items()
            if name != "legit"
        } == expected
        assert answers["legit"].status_code == 200
    async with engine.connect() as conn:
        stored = await conn.execute(text("SELECT provider_message_id FROM messages"))
        assert stored.scalars().all() == [LEGIT_SID]
    worst = result.worst_healthz
    print(f"worst /healthz during the bombs: {worst * 1000:.0f} ms")  # noqa: T201
    assert worst < 1.0
