"""POST /webhooks/telegram over HTTP against real PostgreSQL: dedup, edits, contacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.main import create_app
from devtools.payloads import telegram_request
from tests.conftest import AUTH, PUBLIC_BASE_URL, make_settings
from tests.payloads import TELEGRAM_SECRET, post, sms, telegram

DATA = Path(__file__).parent.parent / "data" / "telegram"
ANA = 123456789
DATE = 1739321024


def sample(name: str, **changes: object) -> dict[str, Any]:
    update: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return update | changes


async def _rows(engine, sql: str) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def _customers(client, **query) -> list[dict[str, Any]]:
    response = await client.get("/v1/customers", params=query, headers=AUTH)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _timeline(client, customer_id) -> list[dict]:
    response = await client.get(f"/v1/customers/{customer_id}/timeline", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_text_is_stored_with_the_chat_scoped_key(client, engine):
    response = await post(client, telegram_request(TELEGRAM_SECRET, sample("text")))

    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    [row] = await _rows(
        engine,
        "SELECT channel, provider, provider_message_id, sender_kind, sender_value,"
        " sender_name, text FROM messages",
    )
    assert tuple(row) == (
        "telegram",
        "telegram",
        "1111111:1365",
        "telegram",
        "1111111",
        "Test Firstname Test Lastname",
        "/start",
    )
    [customer] = await _customers(client, identity="telegram:1111111")
    assert customer["identities"] == [
        {"kind": "telegram", "value": "1111111", "verified": True}
    ]


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(sample("text"), id="same-update-redelivered"),
        pytest.param(sample("text", update_id=10001), id="same-message-other-update"),
    ],
)
async def test_a_message_is_stored_once(client, engine, second):
    first = await post(client, telegram_request(TELEGRAM_SECRET, sample("text")))
    again = await post(client, telegram_request(TELEGRAM_SECRET, second))

    assert (first.status_code, again.status_code) == (200, 200)
    assert await _rows(engine, "SELECT count(*) FROM messages") == [(1,)]


async def test_one_message_id_in_two_chats_is_two_messages(client, engine):
    private = telegram(ANA, "in private", message_id=1365)
    group = telegram(ANA, "in the group", message_id=1365, chat_id=-1001234567890)

    assert (await post(client, private)).status_code == 200
    assert (await post(client, group)).status_code == 200

    rows = await _rows(
        engine, "SELECT provider_message_id FROM messages ORDER BY provider_message_id"
    )
    assert rows == [("-1001234567890:1365",), (f"{ANA}:1365",)]


async def test_an_edit_updates_the_text_and_keeps_the_history(client):
    await post(client, telegram(ANA, "Order 1243 is late", message_id=7, date=DATE))
    edit = telegram(
        ANA, "Order 1234 is late", message_id=7, date=DATE, edit_date=DATE + 90
    )

    responses = [await post(client, edit), await post(client, edit)]  # redelivered

    assert [r.status_code for r in responses] == [200, 200]
    [customer] = await _customers(client, identity=f"telegram:{ANA}")
    [item] = await _timeline(client, customer["id"])
    assert (item["text"], item["full_text"]) == ("Order 1234 is late",) * 2
    assert item["edit_history"] == [
        {"text": "Order 1243 is late", "edited_at": "2025-02-12T00:45:14Z"}
    ]
    assert item["sent_at"] == "2025-02-12T00:43:44Z"


async def test_a_message_without_edits_has_an_empty_history(client):
    await post(client, telegram(ANA, "hello"))

    [customer] = await _customers(client, identity=f"telegram:{ANA}")
    [item] = await _timeline(client, customer["id"])
    assert item["edit_history"] == []


async def test_sharing_ones_own_number_merges_with_the_sms_customer(client, engine):
    await post(client, sms("+14155550100", "Where is my parcel?"))
    [by_phone] = await _customers(client, phone="+14155550100")
    await post(client, telegram(ANA, "hi", first_name="Ana"))
    [by_telegram] = await _customers(client, identity=f"telegram:{ANA}")
    assert by_telegram["id"] != by_phone["id"]

    # A request_contact answer: the sender's own account, number without "+".
    own = {"phone_number": "14155550100", "user_id": ANA}
    response = await post(client, telegram(ANA, None, contact=own))

    assert response.status_code == 200
    [merged] = await _customers(client, identity=f"telegram:{ANA}")
    assert merged["id"] == by_phone["id"]  # the holder of the verified phone survives
    assert merged["merged_from"] == [by_telegram["id"]]
    assert {(i["kind"], i["value"], i["verified"]) for i in merged["identities"]} == {
        ("phone", "+14155550100", True),
        ("telegram", str(ANA), True),
    }
    channels = {m["channel"] for m in await _timeline(client, merged["id"])}
    assert channels == {"sms", "telegram"}
    assert await _rows(engine, "SELECT count(*) FROM customer_merges") == [(1,)]


async def test_someone_elses_contact_is_only_a_claim(client):
    await post(client, sms("+14155550100", "private matter"))
    [victim] = await _customers(client, phone="+14155550100")

    theirs = {"phone_number": "+14155550100", "user_id": 987654321}
    response = await post(client, telegram(ANA, None, contact=theirs))

    assert response.status_code == 200
    [sender] = await _customers(client, identity=f"telegram:{ANA}")
    assert sender["id"] != victim["id"]
    assert {(i["kind"], i["value"], i["verified"]) for i in sender["identities"]} == {
        ("phone", "+14155550100", False),
        ("telegram", str(ANA), True),
    }
    [still_victim] = await _customers(client, phone="+14155550100")
    assert still_victim["id"] == victim["id"]
    assert still_victim["merged_from"] == []


async def test_media_is_provider_hosted(client):
    await post(client, telegram_request(TELEGRAM_SECRET, sample("photo")))

    [customer] = await _customers(client, identity=f"telegram:{ANA}")
    [item] = await _timeline(client, customer["id"])
    [attachment] = item["attachments"]
    assert (item["content_type"], item["text"]) == (
        "photo",
        "The parcel arrived like this",
    )
    assert (attachment["size"], attachment["url"]) == (98345, None)
    response = await client.get(f"/v1/attachments/{attachment['id']}", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["provider_media_id"] == "AgACAgQAAxkBAAMqZ6yQ-large"


async def test_an_update_without_a_message_is_acknowledged(client, engine):
    request = telegram_request(TELEGRAM_SECRET, sample("callback_query"))

    response = await post(client, request)

    assert response.status_code == 200
    assert await _rows(engine, "SELECT count(*) FROM messages") == [(0,)]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("wrong-token", id="wrong"),
        # Raw latin-1 bytes on the wire; Starlette hands them over decoded as latin-1.
        pytest.param((TELEGRAM_SECRET + "\u00e9").encode("latin-1"), id="non-ascii"),
    ],
)
async def test_a_bad_secret_token_is_401_and_stores_nothing(client, engine, token):
    request = telegram(ANA, "hi")
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = token

    response = await client.post(request.path, content=request.body, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "x-telegram-bot-api-secret-token" in response.json()["detail"]
    assert await _rows(engine, "SELECT count(*) FROM messages") == [(0,)]


async def test_an_edit_without_edit_date_is_422_naming_the_field(client):
    update = sample("edited_message")
    del update["edited_message"]["edit_date"]

    response = await post(client, telegram_request(TELEGRAM_SECRET, update))

    assert response.status_code == 422
    assert response.json()["field"] == "edited_message.edit_date"


async def test_unset_secret_token_answers_503_naming_the_setting(
    database_url, tmp_path
):
    settings = make_settings(database_url, tmp_path, telegram_secret_token=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as c:
            response = await post(c, telegram(ANA, "hello"))

    assert response.status_code == 503
    assert response.json()["setting"] == "OMNIROUTE_TELEGRAM_SECRET_TOKEN"
