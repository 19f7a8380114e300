"""PostgreSQL stopped and started under a running service (uvicorn, relay, real Kafka
protocol): during the outage every webhook and /v1 call is 503 with Retry-After, never
500; after it, the first request succeeds and nothing is lost or stored twice."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, quote

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy.engine import URL
from structlog.testing import capture_logs

from app.main import create_app
from devtools.mock_kafka import MockKafkaCluster
from devtools.payloads import SignedRequest
from tests.conftest import AUTH, make_settings
from tests.faults.postgres import LocalPostgres, free_port
from tests.payloads import chat, post, sms, whatsapp

PHONE = "+14155550142"
WAIT_SECONDS = 10.0


@pytest.fixture
def service(
    postgres_url: URL, tmp_path, kafka_cluster: MockKafkaCluster
) -> Iterator[str]:
    """The app under uvicorn on a loopback port, relay on (Kafka: librdkafka mock)."""
    port = free_port()
    settings = make_settings(
        postgres_url,
        tmp_path / "attachments",
        kafka_bootstrap_servers=kafka_cluster.bootstrap_servers,
        db_pool_size=4,
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(WAIT_SECONDS)


async def _ready_until(
    client: httpx.AsyncClient, is_done: Callable[[httpx.Response], bool]
) -> httpx.Response:
    """/readyz until it says what we wait for (a returned status, bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not is_done(response := await client.get("/readyz")):
        assert time.monotonic() < deadline, response.json()
        await asyncio.sleep(0.05)
    return response


def _relay_is(role: str) -> Callable[[httpx.Response], bool]:
    return lambda r: r.json()["checks"].get("relay") == role


def _reads(customer_id: str, conversation_id: str) -> list[tuple[str, str, dict]]:
    """Every database-backed /v1 call: (method, path, json body)."""
    return [
        ("GET", f"/v1/customers?phone={quote(PHONE)}", {}),
        ("GET", f"/v1/customers/{customer_id}", {}),
        ("GET", f"/v1/customers/{customer_id}/timeline", {}),
        ("GET", f"/v1/conversations?customer_id={customer_id}", {}),
        ("GET", f"/v1/conversations/{conversation_id}", {}),
        ("GET", f"/v1/conversations/{conversation_id}/decisions", {}),
    ]


def _writes(customer_id: str, conversation_id: str) -> list[tuple[str, str, dict]]:
    return [
        ("PATCH", f"/v1/customers/{customer_id}", {"tags": ["vip"]}),
        ("POST", f"/v1/conversations/{conversation_id}/close", {}),
    ]


async def _call(client: httpx.AsyncClient, call: tuple[str, str, dict]):
    method, path, body = call
    return await client.request(method, path, headers=AUTH, json=body or None)


def _retry_later(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and response.headers.get("retry-after") == "5"
        and response.headers["content-type"] == "application/problem+json"
        and response.json()["status"] == 503
    )


def _server_errors(metrics: str) -> dict[str, float]:
    prefix = "omniroute_http_server_errors_total{"
    return {
        line.split('status="')[1].split('"')[0]: float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith(prefix)
    }


def _sid(request: SignedRequest) -> str:
    return dict(parse_qsl(request.body.decode()))["MessageSid"]


async def _stored(postgres: LocalPostgres) -> list[str]:
    conn = await asyncpg.connect(postgres.url)
    try:
        rows = await conn.fetch("SELECT provider_message_id FROM messages")
    finally:
        await conn.close()
    return sorted(r["provider_message_id"] for r in rows)


class _Load:
    """Webhooks posted back to back by a few clients, so some are in flight (holding a
    pooled connection, mid-transaction) at the moment the server goes away."""

    def __init__(self, client: httpx.AsyncClient, workers: int = 4) -> None:
        self._client = client
        self._stopping = asyncio.Event()
        self.answered: list[tuple[SignedRequest, httpx.Response]] = []
        self._tasks = [asyncio.create_task(self._post(n)) for n in range(workers)]

    async def _post(self, worker: int) -> None:
        while not self._stopping.is_set():
            request = sms(f"+1415555{worker:04d}", "Load", "SM" + uuid.uuid4().hex)
            self.answered.append((request, await post(self._client, request)))

    def count(self, status: int) -> int:
        return sum(r.status_code == status for _, r in self.answered)

    async def until(self, is_done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not is_done():
            assert time.monotonic() < deadline, [
                r.status_code for _, r in self.answered
            ]
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), WAIT_SECONDS)


async def test_database_outage_is_503_then_recovers_without_loss(
    service: str, postgres: LocalPostgres
):
    before = [
        sms(PHONE, "Where is my parcel?", "SM" + "1" * 32),
        whatsapp(PHONE.lstrip("+"), "Photo of the box", "wamid.outage-1"),
        chat("web-1", "Still waiting", message_id="chat-outage-1", phone=PHONE),
    ]
    during = [
        sms(PHONE, "Hello?", "SM" + "2" * 32),
        whatsapp(PHONE.lstrip("+"), "Anyone there?", "wamid.outage-2"),
        chat("web-1", "Please answer", message_id="chat-outage-2", phone=PHONE),
    ]
    async with httpx.AsyncClient(base_url=service, timeout=WAIT_SECONDS) as client:
        assert [(await post(client, r)).status_code for r in before] == [200] * 3
        found = await client.get("/v1/customers", params={"phone": PHONE}, headers=AUTH)
        customer = found.json()["items"][0]
        conversation = (
            await client.get(
                f"/v1/conversations?customer_id={customer['id']}", headers=AUTH
            )
        ).json()["items"][0]
        reads = _reads(customer["id"], conversation["id"])
        writes = _writes(customer["id"], conversation["id"])
        # Concurrent, so several pooled connections exist when the server goes away.
        warm = await asyncio.gather(*(_call(client, c) for c in reads))
        assert [r.status_code for r in warm] == [200] * len(reads)
        await _ready_until(client, _relay_is("leader"))

        with capture_logs() as logs:
            load = _Load(client)
            await load.until(lambda: load.count(200) >= 4)
            await asyncio.to_thread(postgres.stop)
            await load.until(lambda: load.count(503) >= 8)
            await load.stop()
            after = [await post(client, r) for r in [*during, before[0]]]
            after += [await _call(client, c) for c in [*reads, *writes]]
            counted = _server_errors((await client.get("/metrics")).text)
            ready = await _ready_until(
                client, lambda r: r.json()["checks"].get("relay") != "leader"
            )
            recounted = _server_errors((await client.get("/metrics")).text)

        # In flight when it stopped: committed (200) or 503; after: 503, never 500.
        loaded = [response for _, response in load.answered]
        assert {r.status_code for r in loaded if not _retry_later(r)} <= {200}
        assert [r.status_code for r in after if not _retry_later(r)] == []
        refused = [r for r in [*loaded, *after] if r.status_code == 503]
        assert counted == {"503": len(refused)}  # every 5xx counted, no 500 among them
        assert recounted["503"] > counted["503"]  # /readyz's 503s too
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unavailable")
        assert ready.json()["checks"]["relay"] == "reconnecting"
        assert ready.json()["checks"]["kafka"] == "unknown"
        assert ready.json()["checks"]["relay_error"].startswith("database unavailable")
        unavailable = [e for e in logs if e["event"] == "database.unavailable"]
        assert len(unavailable) == len(refused)  # once per answer
        assert all(e["error"].isidentifier() for e in unavailable)  # a class name
        assert not [e for e in logs if e["event"] == "request.failed"]

        await asyncio.to_thread(postgres.start)
        first = await post(client, during[0])  # the very first request after
        assert first.status_code == 200
        # Then at least as many at once as the pool holds: no stale connection left.
        retried = [q for q, r in load.answered if r.status_code == 503]
        rest = await asyncio.gather(
            *(post(client, r) for r in [*during[1:], before[1], *retried]),
            *(_call(client, c) for c in reads),
        )
        assert [r.status_code for r in rest] == [200] * len(rest)
        ready = await _ready_until(client, _relay_is("leader"))
        assert ready.status_code == 200
        assert "relay_error" not in ready.json()["checks"]

    # Each message exactly once: stored before, during (2xx) or on the retry after.
    assert await _stored(postgres) == sorted(
        [
            "SM" + "1" * 32,
            "SM" + "2" * 32,
            "wamid.outage-1",
            "wamid.outage-2",
            "chat-outage-1",
            "chat-outage-2",
            *(_sid(request) for request, _ in load.answered),
        ]
    )
