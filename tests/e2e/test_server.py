"""The real server: uvicorn on a loopback port, driven over HTTP like a gateway would."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings
from tests.conftest import AUTH, make_settings
from tests.payloads import chat, email, whatsapp


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(database_url, tmp_path, engine) -> Iterator[tuple[str, Settings]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, tmp_path, public_base_url=base)
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield base, settings
    server.should_exit = True
    thread.join(10)


async def test_one_person_on_three_channels_is_one_timeline(server):
    base, settings = server
    from devtools.payloads import twilio_request

    sms = twilio_request(
        base,
        str(settings.secret("twilio_auth_token")),
        [
            ("MessageSid", "SM" + "e" * 32),
            ("From", "+14155550142"),
            ("To", "+14155550000"),
            ("Body", "Where is my parcel?"),
            ("NumMedia", "0"),
        ],
    )
    requests = [
        sms,
        whatsapp("14155550142", "Sent you a photo too", name="Hana Ito"),
        chat(
            "web-hana",
            "Chatting now",
            phone="+1 415 555 0142",
            verified=True,
            email="hana@example.com",
        ),
        email("Hana Ito <hana@example.com>", "And by email", subject="Parcel"),
    ]
    async with httpx.AsyncClient(base_url=base) as client:
        statuses = [
            (await client.post(r.path, content=r.body, headers=r.headers)).status_code
            for r in requests
        ]
        found = (
            await client.get(
                "/v1/customers", params={"phone": "4155550142"}, headers=AUTH
            )
        ).json()["items"]
        timeline = (
            await client.get(f"/v1/customers/{found[0]['id']}/timeline", headers=AUTH)
        ).json()
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        docs = await client.get("/openapi.json")

    assert statuses == [200, 200, 200, 200]
    assert len(found) == 1
    assert sorted(m["channel"] for m in timeline["items"]) == [
        "chat",
        "email",
        "sms",
        "whatsapp",
    ]
    assert len({m["conversation_id"] for m in timeline["items"]}) == 1
    assert (health.status_code, ready.status_code) == (200, 200)
    assert "/v1/customers/{customer_id}/timeline" in docs.json()["paths"]
