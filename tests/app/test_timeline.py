"""Keyset pagination of the cross-channel timeline."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import AUTH
from tests.payloads import chat, post, sms


async def _customer_id(client, identity: str) -> str:
    found = await client.get(
        "/v1/customers", params={"identity": identity}, headers=AUTH
    )
    return str(found.json()["items"][0]["id"])


async def _walk(client, customer_id: str, limit: int, **params) -> list[dict]:
    seen, cursor = [], None
    while True:
        query = {"limit": limit, **params, **({"before": cursor} if cursor else {})}
        page = (
            await client.get(
                f"/v1/customers/{customer_id}/timeline", params=query, headers=AUTH
            )
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_pages_are_stable_while_new_messages_arrive(client):
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(12):
        sent_at = (start + timedelta(minutes=i)).isoformat()
        await post(client, chat("v-page", f"m{i}", sent_at=sent_at))
    customer_id = await _customer_id(client, "chat:v-page")
    first = (
        await client.get(
            f"/v1/customers/{customer_id}/timeline", params={"limit": 5}, headers=AUTH
        )
    ).json()

    for i in range(3):  # arrive between page requests
        await post(client, chat("v-page", f"new{i}"))
    rest, cursor = [], first["next_cursor"]
    while cursor:
        page = (
            await client.get(
                f"/v1/customers/{customer_id}/timeline",
                params={"limit": 5, "before": cursor},
                headers=AUTH,
            )
        ).json()
        rest += page["items"]
        cursor = page["next_cursor"]

    texts = [m["text"] for m in first["items"] + rest]
    assert texts == [f"m{i}" for i in range(11, -1, -1)]


async def test_same_sent_at_is_ordered_by_id_without_loss(client):
    same = "2026-11-20T10:00:00+00:00"
    for i in range(7):
        await post(client, chat("v-tie", f"t{i}", sent_at=same))
    customer_id = await _customer_id(client, "chat:v-tie")

    walked = await _walk(client, customer_id, 2)

    assert sorted(m["text"] for m in walked) == [f"t{i}" for i in range(7)]
    assert [m["id"] for m in walked] == sorted((m["id"] for m in walked), reverse=True)


async def test_channel_and_conversation_filters(client):
    await post(client, chat("v-f", "by chat", phone="+14155550177", verified=True))
    await post(client, sms("+14155550177", "by sms"))
    customer_id = await _customer_id(client, "chat:v-f")

    only_sms = await _walk(client, customer_id, 10, channel=["sms"])
    both = await _walk(client, customer_id, 10, channel=["sms", "chat"])
    conversation_id = only_sms[0]["conversation_id"]
    by_conversation = await _walk(
        client, customer_id, 10, conversation_id=conversation_id
    )

    assert [m["text"] for m in only_sms] == ["by sms"]
    assert len(both) == 2
    assert len(by_conversation) == 2
    assert only_sms[0]["from"] == {
        "kind": "phone",
        "value": "+14155550177",
        "name": None,
    }


async def test_future_and_missing_sent_at_fall_back_to_receipt_time(client):
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    await post(client, chat("v-time", "from the future", sent_at=future))
    await post(client, chat("v-time", "garbled", sent_at="yesterday-ish"))
    customer_id = await _customer_id(client, "chat:v-time")

    items = await _walk(client, customer_id, 10)

    for item in items:
        assert item["sent_at"] == item["received_at"]


async def test_bad_cursor_and_limit_are_client_errors(client):
    await post(client, chat("v-bad", "x"))
    customer_id = await _customer_id(client, "chat:v-bad")
    url = f"/v1/customers/{customer_id}/timeline"

    bad_cursor = await client.get(url, params={"before": "not-a-cursor"}, headers=AUTH)
    bad_limit = await client.get(url, params={"limit": 500}, headers=AUTH)
    bad_channel = await client.get(url, params={"channel": "fax"}, headers=AUTH)

    assert bad_cursor.status_code == 400
    assert bad_limit.status_code == 422
    assert bad_limit.json()["errors"][0]["pointer"] == "/query/limit"
    assert bad_channel.status_code == 422


def _cursor(document: object) -> str:
    raw = json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(
            _cursor(["0001-01-01T00:00:00+14:00", str(uuid.uuid4())]), id="year-1"
        ),
        pytest.param(
            _cursor(["9999-12-31T23:59:59-14:00", str(uuid.uuid4())]), id="year-9999"
        ),
        pytest.param(_cursor(["2026-11-23T10:00:00+00:00", 12345]), id="integer-id"),
        pytest.param(_cursor([12345, str(uuid.uuid4())]), id="integer-time"),
        pytest.param(
            _cursor(["2026-11-23T10:00:00", str(uuid.uuid4())]), id="naive-time"
        ),
        pytest.param(_cursor({"a": 1, "b": 2}), id="object"),
        pytest.param(
            _cursor(["2026-11-23T10:00:00+00:00", "x", "y"]), id="three-items"
        ),
        pytest.param("ä" * 8, id="non-ascii"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-utf8"),
    ],
)
async def test_a_tampered_cursor_is_a_400_problem(client, cursor):
    await post(client, chat("v-tamper", "x"))
    customer_id = await _customer_id(client, "chat:v-tamper")

    response = await client.get(
        f"/v1/customers/{customer_id}/timeline",
        params={"before": cursor},
        headers=AUTH,
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == "before"


async def test_api_requires_a_valid_bearer_token(client):
    missing = await client.get("/v1/customers", params={"email": "a@b.c"})
    wrong = await client.get(
        "/v1/customers",
        params={"email": "a@b.c"},
        headers={"Authorization": "Bearer nope"},
    )
    second = await client.get(
        "/v1/customers",
        params={"email": "a@b.c"},
        headers={"Authorization": "Bearer second-token"},
    )

    assert (missing.status_code, wrong.status_code, second.status_code) == (
        401,
        401,
        200,
    )
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"
