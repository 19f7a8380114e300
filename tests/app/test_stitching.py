"""Identity stitching, merges and conversations, through the webhooks and the API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.conftest import AUTH
from tests.payloads import chat, email, post, sms, whatsapp


async def _customer_by(client, **query):
    response = await client.get("/v1/customers", params=query, headers=AUTH)
    assert response.status_code == 200
    return response.json()["items"]


async def _timeline(client, customer_id, **params):
    response = await client.get(
        f"/v1/customers/{customer_id}/timeline", params=params, headers=AUTH
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_sms_and_whatsapp_from_one_number_are_one_customer_one_conversation(
    client,
):
    await post(client, sms("+14155550100", "Order 1234 is late"))
    await post(client, whatsapp("14155550100", "Any news?", name="Ana Lima"))
    await post(client, sms("(415) 555-0100", "Hello?"))  # national format, same number

    [customer] = await _customer_by(client, phone="+1 415-555-0100")
    timeline = await _timeline(client, customer["id"])

    assert [m["channel"] for m in timeline["items"]] == ["sms", "whatsapp", "sms"] or {
        m["channel"] for m in timeline["items"]
    } == {"sms", "whatsapp"}
    assert len(timeline["items"]) == 3
    assert len({m["conversation_id"] for m in timeline["items"]}) == 1
    assert customer["identities"] == [
        {"kind": "phone", "value": "+14155550100", "verified": True}
    ]


async def test_fifty_concurrent_first_messages_create_exactly_one_customer(
    client, engine
):
    requests = [sms("+14155550199", f"message {i}") for i in range(50)]

    responses = await asyncio.gather(*(post(client, r) for r in requests))

    assert {r.status_code for r in responses} == {200}
    async with engine.connect() as conn:
        customers = (
            await conn.execute(text("SELECT count(*) FROM customers"))
        ).scalar()
        conversations = (
            await conn.execute(
                text("SELECT count(*), sum(message_count) FROM conversations")
            )
        ).one()
        messages = (
            await conn.execute(
                text("SELECT count(DISTINCT customer_id), count(*) FROM messages")
            )
        ).one()
    assert customers == 1
    assert tuple(conversations) == (1, 50)
    assert tuple(messages) == (1, 50)


async def test_short_code_and_invalid_numbers_are_kept_as_phone_raw(client):
    await post(client, sms("72345", "STOP"))

    [customer] = await _customer_by(client, identity="phone_raw:72345")

    assert customer["identities"] == [
        {"kind": "phone_raw", "value": "72345", "verified": True}
    ]


async def test_verified_chat_visitor_merges_with_the_email_customer(client, engine):
    await post(client, email("Dana <Dana@Example.com>", "My invoice is wrong"))
    [by_email] = await _customer_by(client, email="dana@example.com")
    await post(client, chat("visitor-9", "hi, I wrote by email", name="Dana"))
    [by_chat] = await _customer_by(client, identity="chat:visitor-9")
    assert by_chat["id"] != by_email["id"]

    await post(
        client, chat("visitor-9", "it's me", email="dana@example.com", verified=True)
    )

    [merged] = await _customer_by(client, identity="chat:visitor-9")
    assert merged["id"] == by_email["id"]
    assert merged["merged_from"] == [by_chat["id"]]
    assert {(i["kind"], i["value"]) for i in merged["identities"]} == {
        ("email", "dana@example.com"),
        ("chat", "visitor-9"),
    }
    timeline = await _timeline(client, merged["id"])
    assert {m["channel"] for m in timeline["items"]} == {"email", "chat"}
    assert len(timeline["items"]) == 3
    async with engine.connect() as conn:
        reason = (
            await conn.execute(text("SELECT reason FROM customer_merges"))
        ).scalar()
    assert reason == "verified chat visitor claimed email dana@example.com"
    moved = await client.get(f"/v1/customers/{by_chat['id']}", headers=AUTH)
    assert moved.status_code == 308
    assert moved.headers["location"] == f"/v1/customers/{by_email['id']}"


async def test_unverified_chat_email_is_a_claim_never_used_to_stitch(client):
    await post(client, email("victim@example.com", "private matter"))
    [victim] = await _customer_by(client, email="victim@example.com")

    await post(
        client,
        chat("visitor-x", "I am them", email="victim@example.com", verified=False),
    )

    [visitor] = await _customer_by(client, identity="chat:visitor-x")
    assert visitor["id"] != victim["id"]
    assert {
        "kind": "email",
        "value": "victim@example.com",
        "verified": False,
    } in visitor["identities"]
    assert [m["text"] for m in (await _timeline(client, victim["id"]))["items"]] == [
        "private matter"
    ]
    assert await _customer_by(client, email="victim@example.com") == [victim]


async def test_manual_merge_moves_everything_and_old_urls_redirect(client):
    await post(client, sms("+14155550101", "from sms"))
    await post(client, email("eve@example.com", "from email"))
    [phone_customer] = await _customer_by(client, phone="+14155550101")
    [email_customer] = await _customer_by(client, email="eve@example.com")
    await client.patch(
        f"/v1/customers/{email_customer['id']}",
        headers=AUTH,
        json={"tags": ["vip"], "attributes": {"plan": "gold"}},
    )

    response = await client.post(
        f"/v1/customers/{phone_customer['id']}/merge",
        headers=AUTH,
        json={"merge_customer_id": email_customer["id"]},
    )

    assert response.status_code == 200
    survivor = response.json()
    assert survivor["id"] == phone_customer["id"]
    assert survivor["merged_from"] == [email_customer["id"]]
    assert survivor["tags"] == ["vip"]
    assert survivor["attributes"] == {"plan": "gold"}
    timeline = await _timeline(client, survivor["id"])
    assert {m["text"] for m in timeline["items"]} == {"from sms", "from email"}
    open_conversations = (
        await client.get(
            "/v1/conversations",
            params={"customer_id": survivor["id"], "status": "open"},
            headers=AUTH,
        )
    ).json()["items"]
    assert len(open_conversations) == 1
    old = await client.get(
        f"/v1/customers/{email_customer['id']}/timeline?limit=5", headers=AUTH
    )
    assert old.status_code == 308
    assert old.headers["location"] == f"/v1/customers/{survivor['id']}/timeline?limit=5"
    again = await client.post(
        f"/v1/customers/{phone_customer['id']}/merge",
        headers=AUTH,
        json={"merge_customer_id": email_customer["id"]},
    )
    assert again.status_code == 409


async def test_merge_into_itself_is_refused(client):
    await post(client, sms("+14155550102", "x"))
    [customer] = await _customer_by(client, phone="+14155550102")

    response = await client.post(
        f"/v1/customers/{customer['id']}/merge",
        headers=AUTH,
        json={"merge_customer_id": customer["id"]},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_email_reply_joins_and_reopens_the_threads_conversation(client):
    await post(
        client, email("fay@example.com", "first", message_id="t1@mail.example.com")
    )
    [customer] = await _customer_by(client, email="fay@example.com")
    [first] = (await _timeline(client, customer["id"]))["items"]
    await client.post(
        f"/v1/conversations/{first['conversation_id']}/close", headers=AUTH
    )
    await post(client, sms("+14155550103", "unrelated"))  # another customer, no effect

    await post(
        client,
        email(
            "fay@example.com",
            "follow-up",
            in_reply_to="t1@mail.example.com",
            subject="Re: Hello",
            date="Mon, 23 Nov 2026 11:00:00 +0000",
        ),
    )

    items = (await _timeline(client, customer["id"]))["items"]
    assert {m["conversation_id"] for m in items} == {first["conversation_id"]}
    assert items[0]["in_reply_to"] == "t1@mail.example.com"
    conversation = (
        await client.get(f"/v1/conversations/{first['conversation_id']}", headers=AUTH)
    ).json()
    assert conversation["status"] == "open"
    assert conversation["message_count"] == 2


async def test_closed_conversation_means_next_message_opens_a_new_one(client):
    await post(client, sms("+14155550104", "one"))
    [customer] = await _customer_by(client, phone="+14155550104")
    [first] = (await _timeline(client, customer["id"]))["items"]
    closed = await client.post(
        f"/v1/conversations/{first['conversation_id']}/close", headers=AUTH
    )
    assert closed.json()["status"] == "closed"

    await post(client, email("other@example.com", "unrelated"))
    await post(client, sms("+14155550104", "two"))

    items = (await _timeline(client, customer["id"]))["items"]
    assert items[0]["conversation_id"] != first["conversation_id"]


async def test_idle_conversation_is_closed_and_the_next_message_opens_another(
    client, engine
):
    await post(client, sms("+14155550105", "monday"))
    [customer] = await _customer_by(client, phone="+14155550105")
    long_ago = datetime.now(UTC) - timedelta(hours=25)
    async with engine.begin() as conn:  # the clock moves on: the conversation went idle
        await conn.execute(
            text("UPDATE conversations SET last_message_at = :t"), {"t": long_ago}
        )

    await post(client, whatsapp("14155550105", "tuesday"))

    conversations = (
        await client.get(
            "/v1/conversations", headers=AUTH, params={"customer_id": customer["id"]}
        )
    ).json()["items"]
    assert [(c["status"], c["close_reason"]) for c in conversations] == [
        ("open", None),
        ("closed", "idle"),
    ]
    assert conversations[1]["closed_at"].startswith(
        (long_ago + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M")
    )
    assert conversations[0]["channels"] == ["whatsapp"]


async def test_channel_switch_keeps_the_conversation_and_lists_channels(client):
    await post(client, chat("v-20", "hi", email="gus@example.com", verified=True))
    await post(client, email("gus@example.com", "details by mail"))

    [customer] = await _customer_by(client, email="gus@example.com")
    [conversation] = (
        await client.get(
            "/v1/conversations", headers=AUTH, params={"customer_id": customer["id"]}
        )
    ).json()["items"]
    assert conversation["channels"] == ["chat", "email"]
    assert conversation["message_count"] == 2
