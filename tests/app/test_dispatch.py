"""Replies delivered by the real dispatcher to provider APIs played by a loopback HTTP
server (and a loopback SMTP server): request formats, outcomes, retries, unknown."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import text

from app.main import create_app
from app.repositories.dispatches import Dispatches
from devtools.payloads import messenger_message
from tests.conftest import AUTH, PUBLIC_BASE_URL, SECRETS, make_settings
from tests.payloads import chat, email, post, sms, telegram, whatsapp
from tests.providers import Answer, ProviderServer, Recorded, serving, smtp_server

TWILIO_SID = "AC" + "0" * 32


def _provider_answer(request: Recorded) -> Answer:
    """What each provider answers a successful send (shapes from their docs)."""
    path = request.path
    if path.endswith("/Messages.json"):
        sid = "SM" + uuid.uuid4().hex
        return Answer(201, {"sid": sid, "status": "queued", "error_code": None})
    if path.endswith("/messages") and "/v3/" in path:
        return Answer(
            200,
            {"id": f"<{uuid.uuid4().hex}@mg.example>", "message": "Queued. Thank you."},
        )
    if path.endswith("/messages"):  # Graph: WhatsApp Cloud API or Send API
        if b"messaging_product" in request.body:
            return Answer(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": "x", "wa_id": "x"}],
                    "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}],
                },
            )
        return Answer(200, {"recipient_id": "1", "message_id": f"m_{uuid.uuid4().hex}"})
    if path.endswith("/sendMessage"):
        chat_id = request.json()["chat_id"]
        return Answer(
            200,
            {
                "ok": True,
                "result": {"message_id": 7, "chat": {"id": chat_id}, "date": 0},
            },
        )
    return Answer(200, {})  # the chat widget


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    yield from serving(ProviderServer(default=_provider_answer))


@contextlib.asynccontextmanager
async def _service(settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE_URL
        ) as client,
    ):
        yield client


def _settings(database_url, tmp_path, provider, **overrides):
    base = provider.base_url
    values = {
        "dispatch_enabled": True,
        "twilio_api_base": base,
        "graph_api_base": base,
        "mailgun_api_base": base,
        "telegram_api_base": base,
        "chat_delivery_url": base + "/chat",
        "send_timeout_seconds": 1.0,
        **overrides,
    }
    return make_settings(database_url, tmp_path, **values)


async def _reply(client, identity: str, body: dict) -> dict:
    found = await client.get("/v1/customers", params=_query(identity), headers=AUTH)
    [customer] = found.json()["items"]
    conversations = await client.get(
        "/v1/conversations", params={"customer_id": customer["id"]}, headers=AUTH
    )
    conversation_id = conversations.json()["items"][0]["id"]
    response = await client.post(
        f"/v1/conversations/{conversation_id}/messages", json=body, headers=AUTH
    )
    assert response.status_code == 202, response.text
    return response.json()


def _query(identity: str) -> dict[str, str]:
    kind, _, value = identity.partition(":")
    return {kind: value} if kind in ("phone", "email") else {"identity": identity}


async def _final(engine, message_id: str, timeout: float = 10.0):
    """The message once the dispatcher is done with it."""
    async with asyncio.timeout(timeout):
        while True:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT m.status, m.provider_message_id, m.error_code,"
                            " m.error_message, m.status_history, d.state, d.attempts"
                            " FROM messages m JOIN dispatches d ON d.message_id = m.id"
                            " WHERE m.id = :id"
                        ),
                        {"id": message_id},
                    )
                ).one()
            if row.state == "done":
                return row
            await asyncio.sleep(0.05)


async def test_an_sms_reply_goes_to_twilio_and_ends_sent(
    database_url, tmp_path, engine, provider
):
    settings = _settings(database_url, tmp_path, provider)
    async with _service(settings) as client:
        await post(client, sms("+14155550100", "order?"))
        message = await _reply(client, "phone:+14155550100", {"text": "Shipped."})
        final = await _final(engine, message["id"])

    [request] = provider.requests
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    form = parse_qs(request.body.decode())
    assert form["To"] == ["+14155550100"]
    assert form["From"] == ["+14155550000"]  # the number the customer wrote to
    assert form["Body"] == ["Shipped."]
    assert form["StatusCallback"] == [f"{PUBLIC_BASE_URL}/webhooks/twilio/status"]
    assert request.headers["authorization"].startswith("Basic ")
    assert (final.status, final.attempts) == ("sent", 1)
    assert final.provider_message_id.startswith("SM")
    assert [h["status"] for h in final.status_history] == ["queued", "sent"]
    async with engine.connect() as conn:
        types = (
            (
                await conn.execute(
                    text(
                        "SELECT payload->>'type' FROM outbox"
                        " WHERE topic = 'omniroute.messages' ORDER BY id"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert types == ["omniroute.message.sent.v1", "omniroute.message.status.v1"]


@pytest.mark.parametrize(
    ("inbound", "identity", "path_end", "field"),
    [
        pytest.param(
            whatsapp("4915112345678", "Hallo"),
            "phone:+4915112345678",
            "/v21.0/106540352242922/messages",
            "messaging_product",
            id="whatsapp-cloud-api",
        ),
        pytest.param(
            telegram(424242, "hello bot"),
            "telegram:424242",
            "/bot123456:test-bot-token/sendMessage",
            "chat_id",
            id="telegram",
        ),
        pytest.param(
            messenger_message(
                str(SECRETS["meta_app_secret"]), "6254000000000000", "hi"
            ),
            "messenger:6254000000000000",
            "/v21.0/1234567890/messages",
            "messaging_type",
            id="messenger",
        ),
        pytest.param(
            chat("v-dispatch", "hello"),
            "chat:v-dispatch",
            "/chat",
            "visitor_id",
            id="chat-widget",
        ),
        pytest.param(
            email(
                "Ana <ana@example.com>", "Invoice?", message_id="m1@mail.example.com"
            ),
            "email:ana@example.com",
            "/v3/mg.omniroute.example.com/messages",
            None,
            id="mailgun",
        ),
    ],
)
async def test_each_channel_goes_to_its_provider(
    database_url, tmp_path, engine, provider, inbound, identity, path_end, field
):
    settings = _settings(database_url, tmp_path, provider)
    async with _service(settings) as client:
        await post(client, inbound)
        message = await _reply(client, identity, {"text": "Thanks!", "agent_id": "ana"})
        final = await _final(engine, message["id"])

    [request] = provider.requests
    assert request.path.endswith(path_end)
    if field is not None:
        assert field in request.json()
    else:  # Mailgun: form fields with the threading headers
        form = parse_qs(request.body.decode())
        assert form["h:In-Reply-To"] == ["<m1@mail.example.com>"]
        assert form["subject"] == ["Re: Hello"]
    assert final.status == "sent"


async def test_429_with_retry_after_is_sent_again_then_succeeds(
    database_url, tmp_path, engine, provider
):
    provider.script.append(
        Answer(
            429,
            {"code": 20429, "message": "Too Many Requests"},
            (("Retry-After", "1"),),
        )
    )
    settings = _settings(database_url, tmp_path, provider)
    async with _service(settings) as client:
        await post(client, sms("+14155550101", "hi"))
        message = await _reply(client, "phone:+14155550101", {"text": "Hello"})
        final = await _final(engine, message["id"])

    assert len(provider.requests) == 2
    assert (final.status, final.attempts) == ("sent", 2)


async def test_a_400_fails_at_once_with_the_providers_code_and_text(
    database_url, tmp_path, engine, provider
):
    provider.script.append(
        Answer(
            400,
            {"code": 21211, "message": "The 'To' number is not valid.", "status": 400},
        )
    )
    settings = _settings(database_url, tmp_path, provider)
    async with _service(settings) as client:
        await post(client, sms("+14155550102", "hi"))
        message = await _reply(client, "phone:+14155550102", {"text": "Hello"})
        final = await _final(engine, message["id"])
        timeline = await client.get(
            f"/v1/customers/{message['customer_id']}/timeline", headers=AUTH
        )

    assert len(provider.requests) == 1
    assert (final.status, final.error_code) == ("failed", "21211")
    shown = timeline.json()["items"][0]
    assert shown["error"] == {
        "code": "21211",
        "message": "The 'To' number is not valid.",
    }


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Answer(hang=True), id="hung-provider"),
        pytest.param(Answer(500, {"message": "oops"}), id="500"),
        pytest.param(Answer(502, b"bad gateway"), id="502"),
    ],
)
async def test_an_unknown_outcome_is_never_sent_again(
    database_url, tmp_path, engine, provider, answer
):
    provider.script.append(answer)
    settings = _settings(database_url, tmp_path, provider, send_timeout_seconds=0.5)
    async with _service(settings) as client:
        await post(client, sms("+14155550103", "hi"))
        message = await _reply(client, "phone:+14155550103", {"text": "Hello"})
        final = await _final(engine, message["id"])
        await asyncio.sleep(0.3)  # a re-send would have reached the provider by now
        again = await client.post(f"/v1/messages/{message['id']}/retry", headers=AUTH)
        after = await _final(engine, message["id"])

    assert final.status == "unknown"
    assert again.status_code == 202  # a person decides to send it again
    assert after.status == "sent"
    assert len(provider.requests) == 2  # the first attempt and the person's retry


async def test_connection_refused_is_retried_then_fails(database_url, tmp_path, engine):
    settings = make_settings(
        database_url,
        tmp_path,
        dispatch_enabled=True,
        send_max_attempts=2,
        twilio_api_base="http://127.0.0.1:9",
    )
    async with _service(settings) as client:
        await post(client, sms("+14155550104", "hi"))
        message = await _reply(client, "phone:+14155550104", {"text": "Hello"})
        final = await _final(engine, message["id"], timeout=15)

    assert (final.status, final.attempts, final.error_code) == ("failed", 2, "connect")


async def test_a_send_claimed_by_a_dispatcher_that_died_is_marked_unknown(
    database_url, tmp_path, engine, provider
):
    settings = _settings(database_url, tmp_path, provider)
    async with _service(make_settings(database_url, tmp_path)) as client:  # no dispatch
        await post(client, sms("+14155550105", "hi"))
        message = await _reply(client, "phone:+14155550105", {"text": "Hello"})
    import asyncpg

    from app.db import dsn

    conn = await asyncpg.connect(dsn(settings))
    try:  # a dispatcher claims the row, then dies before recording anything
        [claimed] = await Dispatches(conn).claim("twilio", 10, "dead-host:1:x")
    finally:
        await conn.close()
    async with _service(settings):
        final = await _final(engine, message["id"])

    assert str(claimed.message_id) == message["id"]
    assert final.status == "unknown"
    assert final.error_code == "dispatcher_lost"
    assert provider.requests == []  # never re-sent automatically


async def test_smtp_replies_thread_under_the_customers_email(
    database_url, tmp_path, engine, provider
):
    for inbox, port in smtp_server():
        settings = _settings(
            database_url,
            tmp_path,
            provider,
            email_outbound="smtp",
            smtp_port=port,
            smtp_starttls=False,
        )
        async with _service(settings) as client:
            await post(
                client,
                email(
                    "Ana <ana@example.com>",
                    "Invoice?",
                    message_id="m1@mail.example.com",
                    subject="Re: Invoice 42",
                ),
            )
            message = await _reply(
                client, "email:ana@example.com", {"text": "Attached."}
            )
            final = await _final(engine, message["id"])

        [received] = inbox.messages
        assert final.status == "sent"
        assert received["In-Reply-To"] == "<m1@mail.example.com>"
        assert "<m1@mail.example.com>" in received["References"]
        assert received["Subject"] == "Re: Invoice 42"  # not "Re: Re: ..."
        assert received["To"] == "ana@example.com"
        assert received["Message-ID"] == f"<{message['id']}@omniroute.example.com>"
        assert received.get_content().strip() == "Attached."


async def test_a_rate_limited_provider_does_not_hold_up_the_others(
    database_url, tmp_path, engine, provider
):
    settings = _settings(database_url, tmp_path, provider, send_rate_twilio=1.0)
    async with _service(settings) as client:
        await post(client, chat("v-fast", "hello"))
        sms_replies = []
        for i in range(3):
            await post(client, sms(f"+1415555020{i}", "hi"))
            sms_replies.append(
                await _reply(client, f"phone:+1415555020{i}", {"text": f"reply {i}"})
            )
        fast = await _reply(client, "chat:v-fast", {"text": "right away"})
        chat_done = await _final(engine, fast["id"])
        async with engine.connect() as conn:
            queued_sms = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM messages WHERE provider = 'twilio'"
                        " AND direction = 'outbound' AND status = 'queued'"
                    )
                )
            ).scalar()
        finished = [await _final(engine, m["id"]) for m in sms_replies]

    # One message a second per sender: the third SMS is still waiting its turn when
    # the chat reply, sent through another provider, is done.
    assert chat_done.status == "sent"
    assert queued_sms >= 1
    assert [f.status for f in finished] == ["sent", "sent", "sent"]
