"""Webhook endpoints over HTTP against real PostgreSQL: acks, dedup and every rejection."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import httpx
import pytest
import structlog.testing
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from devtools.payloads import SignedRequest, mailgun_request, meta_request
from tests.conftest import PUBLIC_BASE_URL, SECRETS, make_settings
from tests.payloads import chat, email, post, sms, whatsapp

PROBLEM = "application/problem+json"


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        )


async def test_twilio_sms_is_stored_and_acknowledged_with_empty_twiml(client, engine):
    response = await post(
        client, sms("+14155550100", "Hi, my order is late", "SM" + "a" * 32)
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert b"<Response></Response>" in response.content
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT channel, provider_message_id, sender_kind, sender_value, text"
                    " FROM messages"
                )
            )
        ).one()
    assert tuple(row) == (
        "sms",
        "SM" + "a" * 32,
        "phone",
        "+14155550100",
        "Hi, my order is late",
    )


async def test_retried_delivery_answers_200_and_stores_nothing_new(client, engine):
    request = sms("+14155550100", "once", "SM" + "b" * 32)

    first, second = await post(client, request), await post(client, request)

    assert (first.status_code, second.status_code) == (200, 200)
    assert await _count(engine, "messages") == 1
    assert await _count(engine, "customers") == 1


@pytest.mark.parametrize(
    ("build", "tamper"),
    [
        pytest.param(
            lambda: sms("+14155550100", "x"), "x-twilio-signature", id="twilio"
        ),
        pytest.param(
            lambda: whatsapp("14155550100", "x"), "x-hub-signature-256", id="meta"
        ),
        pytest.param(lambda: chat("v1", "x"), "x-omniroute-signature", id="chat"),
        pytest.param(
            lambda: email("a@example.com", "x"), "x-omniroute-signature", id="mime"
        ),
    ],
)
async def test_bad_signature_is_401_problem_and_stores_nothing(
    client, engine, build, tamper, caplog
):
    request = build()
    headers = {**request.headers, tamper: "sha256=" + "0" * 64}

    response = await client.post(request.path, content=request.body, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == f"{PUBLIC_BASE_URL}/problems/signature-rejected"
    assert problem["status"] == 401
    assert problem["instance"] == request.path
    assert await _count(engine, "messages") == 0


async def test_missing_signature_header_says_so(client):
    request = chat("v1", "hello")
    headers = {"Content-Type": "application/json"}

    response = await client.post(request.path, content=request.body, headers=headers)

    assert response.status_code == 401
    assert "x-omniroute-signature" in response.json()["detail"].lower()


async def test_unconfigured_connector_answers_503_naming_the_setting(
    database_url, tmp_path
):
    settings = make_settings(database_url, tmp_path, chat_webhook_secret=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as c:
            response = await post(c, chat("v1", "hello"))

    assert response.status_code == 503
    assert response.json()["setting"] == "OMNIROUTE_CHAT_WEBHOOK_SECRET"


@pytest.mark.parametrize(
    ("document", "status", "field"),
    [
        pytest.param(b"{not json", 400, "body", id="not-json"),
        pytest.param(
            b'{"visitor": {"id": "v", "verified": false}, "text": "x"}',
            422,
            "message_id",
            id="missing-message-id",
        ),
    ],
)
async def test_malformed_payload_is_rejected_with_the_field(
    client, engine, document, status, field
):
    from connectors.signing import sign_body

    headers = {
        "Content-Type": "application/json",
        "X-Omniroute-Signature": sign_body(
            document, str(SECRETS["chat_webhook_secret"])
        ),
    }

    response = await client.post("/webhooks/chat", content=document, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field
    assert await _count(engine, "messages") == 0


async def test_body_over_limit_is_413_from_content_length(database_url, tmp_path):
    app = create_app(make_settings(database_url, tmp_path, max_body_bytes=1024))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as c:
            response = await post(c, chat("v1", "x" * 5000))

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_chunked_body_over_limit_is_413_while_streaming(database_url, tmp_path):
    app = create_app(make_settings(database_url, tmp_path, max_body_bytes=1024))
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(100):
            sent += 512
            yield b"x" * 512

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as c:
            response = await c.post(
                "/webhooks/chat",
                content=chunks(),
                headers={"Content-Type": "application/json"},
            )

    assert response.status_code == 413
    assert response.json()["status"] == 413


async def test_database_down_is_503_with_retry_after(tmp_path, unused_tcp_port):
    from sqlalchemy.engine import make_url

    dead = make_url(
        f"postgresql+asyncpg://postgres@127.0.0.1:{unused_tcp_port}/nothing"
    )
    app = create_app(make_settings(dead, tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_BASE_URL
        ) as c:
            response = await post(c, sms("+14155550100", "hello"))
            ready = await c.get("/readyz")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == PROBLEM
    assert ready.status_code == 503


async def test_meta_handshake_echoes_the_challenge(client):
    ok = await client.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": SECRETS["meta_verify_token"],
            "hub.challenge": "1158201444",
        },
    )
    wrong = await client.get(
        "/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "guess",
            "hub.challenge": "1",
        },
    )

    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == PROBLEM


def _mailgun_fields(message_id: str) -> dict[str, str]:
    return {
        "sender": "bob@example.com",
        "from": "Bob <bob@example.com>",
        "recipient": "support@omniroute.example.com",
        "subject": "Help",
        "body-plain": "Hello",
        "stripped-text": "Hello",
        "Message-Id": f"<{message_id}>",
    }


async def test_mailgun_token_replayed_for_another_message_is_rejected(client, engine):
    key = str(SECRETS["mailgun_signing_key"])
    first = mailgun_request(key, _mailgun_fields("one@example.com"), token="t" * 50)
    replay = mailgun_request(key, _mailgun_fields("two@example.com"), token="t" * 50)

    assert (await post(client, first)).status_code == 200
    response = await post(client, replay)

    assert response.status_code == 401
    assert "already used" in response.json()["detail"]
    assert await _count(engine, "messages") == 1


async def test_mailgun_retry_of_a_stored_message_is_a_duplicate_not_a_replay(
    client, engine
):
    key = str(SECRETS["mailgun_signing_key"])
    request = mailgun_request(key, _mailgun_fields("same@example.com"))

    assert (await post(client, request)).status_code == 200
    assert (await post(client, request)).status_code == 200
    assert await _count(engine, "messages") == 1


async def test_mailgun_stale_timestamp_is_rejected(client, engine):
    key = str(SECRETS["mailgun_signing_key"])
    request = mailgun_request(
        key, _mailgun_fields("old@example.com"), timestamp=int(time.time()) - 16 * 60
    )

    response = await post(client, request)

    assert response.status_code == 401
    assert await _count(engine, "messages") == 0


async def test_email_attachment_bytes_are_served_content_addressed(client, settings):
    raw = (
        b"From: Carla <carla@example.com>\r\nTo: support@omniroute.example.com\r\n"
        b"Subject: Invoice\r\nMessage-ID: <att-1@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
        b"--b1\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOf\r\n--b1--\r\n"
    )
    from devtools.payloads import mime_request

    assert (
        await post(client, mime_request(str(SECRETS["email_webhook_secret"]), raw))
    ).status_code == 200
    found = (
        await client.get(
            "/v1/customers",
            params={"email": "carla@example.com"},
            headers={"Authorization": "Bearer test-token"},
        )
    ).json()
    customer_id = found["items"][0]["id"]
    timeline = (
        await client.get(
            f"/v1/customers/{customer_id}/timeline",
            headers={"Authorization": "Bearer test-token"},
        )
    ).json()
    attachment = timeline["items"][0]["attachments"][0]

    download = await client.get(
        attachment["url"].removeprefix(PUBLIC_BASE_URL),
        headers={"Authorization": "Bearer test-token"},
    )

    assert attachment["filename"] == "invoice.pdf"
    assert download.status_code == 200
    assert download.content == b"%PDF-1.4\n%\xc3\xa4\xc3\xbc\xc3\xb6\xc3\x9f"
    assert download.headers["content-type"] == "application/pdf"
    digest = hashlib.sha256(download.content).hexdigest()
    assert _stored_file(settings.attachment_dir, digest) == download.content


def _stored_file(root: Path, digest: str) -> bytes:
    return (root / digest[:2] / digest).read_bytes()


def _whatsapp_batch(wamids: list[str]) -> SignedRequest:
    """One Cloud API POST carrying several messages (Meta batches them)."""
    messages = [
        {
            "from": "4915112345678",
            "id": wamid,
            "timestamp": "1764500000",
            "type": "text",
            "text": {"body": f"message {i}"},
        }
        for i, wamid in enumerate(wamids)
    ]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1234"},
        "contacts": [{"profile": {"name": "Jonas"}, "wa_id": "4915112345678"}],
        "messages": messages,
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "999", "changes": [{"field": "messages", "value": value}]}],
    }
    return meta_request(str(SECRETS["meta_app_secret"]), document)


async def test_one_bad_message_in_a_meta_batch_does_not_block_the_others(
    client, engine
):
    good = [f"wamid.{uuid.uuid4().hex}", f"wamid.{uuid.uuid4().hex}"]
    batch = _whatsapp_batch([good[0], "x" * 5000, good[1]])  # an id over the limit

    with structlog.testing.capture_logs() as logs:
        first = await post(client, batch)
    again = await post(client, batch)  # Meta redelivers: still 200, nothing new

    assert (first.status_code, again.status_code) == (200, 200)
    async with engine.connect() as conn:
        stored = (
            await conn.execute(text("SELECT provider_message_id FROM messages"))
        ).scalars()
        assert sorted(stored) == sorted(good)
    [rejected] = [e for e in logs if e["event"] == "webhook.message_rejected"]
    assert (rejected["index"], rejected["reason"]) == (1, "too long")


async def test_a_meta_batch_with_only_bad_messages_is_422_and_stores_nothing(
    client, engine
):
    response = await post(client, _whatsapp_batch(["x" * 5000, "y" * 5000]))

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert await _count(engine, "messages") == 0
