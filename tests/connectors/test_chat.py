"""Chat widget connector: body signature, payload mapping, lenient sent_at."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors import chat
from connectors.model import (
    Attachment,
    Channel,
    IdentityClaim,
    IdentityKind,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)

DATA = Path(__file__).parent.parent / "data" / "chat"
RECEIVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://omniroute.example.com/webhooks/chat"
SECRET = "chat-widget-secret"
MINIMAL = {
    "message_id": "cm_1",
    "visitor": {"id": "vis_1", "verified": False},
    "text": "hi",
}


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def payload(**changes: object) -> bytes:
    return json.dumps({**MINIMAL, **changes}).encode()


def request(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {} if signature is None else {"x-omniroute-signature": signature}
    return WebhookRequest(body=body, headers=headers, url=URL, received_at=RECEIVED_AT)


# --- verify ------------------------------------------------------------------

# HMAC-SHA256 of b'{"text":"hi"}' under SECRET, computed with `openssl dgst -hmac`.
SIGNED_BODY = b'{"text":"hi"}'
SIGNATURE = "sha256=2cbb0ae45251e8145def270a3d7f82503d311c91aacf12071a25f9bda74c2429"


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(SIGNATURE, id="exact"),
        pytest.param(SIGNATURE.upper().replace("SHA256=", "sha256="), id="upper-hex"),
    ],
)
def test_verify_accepts(signature: str) -> None:
    chat.verify(request(SIGNED_BODY, signature), SECRET)


@pytest.mark.parametrize(
    ("body", "signature", "secret", "reason"),
    [
        pytest.param(
            SIGNED_BODY, SIGNATURE, "other", "does not match", id="wrong-secret"
        ),
        pytest.param(
            b'{"text":"hi!"}', SIGNATURE, SECRET, "does not match", id="tampered-body"
        ),
        pytest.param(
            SIGNED_BODY,
            SIGNATURE.removeprefix("sha256="),
            SECRET,
            "does not match",
            id="no-scheme-prefix",
        ),
        pytest.param(SIGNED_BODY, None, SECRET, "is missing", id="missing-header"),
        pytest.param(SIGNED_BODY, "", SECRET, "is missing", id="empty-header"),
    ],
)
def test_verify_rejects(
    body: bytes, signature: str | None, secret: str, reason: str
) -> None:
    with pytest.raises(SignatureInvalid, match=reason) as caught:
        chat.verify(request(body, signature), secret)

    assert secret not in caught.value.reason


# --- parse -------------------------------------------------------------------


def test_parse_full_sample() -> None:
    [message] = chat.parse(sample("full.json"), {}).messages

    assert message.provider == "chat"
    assert message.provider_message_id == "cm_01HZX3K9V7Q2R8T5W4Y6N1M0PA"
    assert message.channel is Channel.chat
    assert message.sender == IdentityClaim(
        kind=IdentityKind.chat, value="vis_7f3a9c2e", name="Grace Hopper"
    )
    assert message.text == "Hello, my invoice total looks wrong."
    assert message.sent_at == datetime(
        2024, 5, 1, 9, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2))
    )
    assert message.locale == "en-GB"
    assert message.linked_identities == (
        IdentityClaim(kind=IdentityKind.email, value="Grace.Hopper@Example.com"),
        IdentityClaim(kind=IdentityKind.phone, value="(415) 555-0100"),
    )
    assert message.attachments == (
        Attachment(
            url="https://chat.example.com/uploads/a1b2c3/invoice.pdf",
            filename="invoice.pdf",
            content_type="application/pdf",
            size=48213,
        ),
    )
    assert message.content_type == "media"
    assert message.recipient is None


def test_parse_minimal_sample() -> None:
    [message] = chat.parse(sample("minimal.json"), {}).messages

    assert message.provider_message_id == "cm_01HZX3M2B4C6D8F0G2H4J6K8LB"
    assert message.sender == IdentityClaim(kind=IdentityKind.chat, value="vis_0c1d2e3f")
    assert message.text == "hi"
    assert message.sent_at == datetime(2024, 5, 1, 7, 31, tzinfo=UTC)
    assert message.linked_identities == ()
    assert message.attachments == ()
    assert message.locale is None
    assert message.content_type == "text"


@pytest.mark.parametrize(
    ("visitor", "linked"),
    [
        pytest.param(
            {"id": "v", "email": "a@example.com", "verified": False},
            (
                IdentityClaim(
                    kind=IdentityKind.email, value="a@example.com", verified=False
                ),
            ),
            id="unverified-email",
        ),
        pytest.param(
            {"id": "v", "phone": "+44 20 7946 0000", "verified": True},
            (IdentityClaim(kind=IdentityKind.phone, value="+44 20 7946 0000"),),
            id="verified-phone-raw",
        ),
        pytest.param(
            {"id": "v", "email": "", "phone": None, "verified": True},
            (),
            id="blank-claims-dropped",
        ),
    ],
)
def test_parse_linked_identities(
    visitor: dict[str, object], linked: tuple[IdentityClaim, ...]
) -> None:
    [message] = chat.parse(payload(visitor=visitor), {}).messages

    assert message.linked_identities == linked


@pytest.mark.parametrize(
    ("sent_at", "expected"),
    [
        pytest.param(
            "2024-05-01T07:31:00Z", datetime(2024, 5, 1, 7, 31, tzinfo=UTC), id="zulu"
        ),
        pytest.param(
            "2024-05-01t07:31:00z",
            datetime(2024, 5, 1, 7, 31, tzinfo=UTC),
            id="lower-case-t-and-z",
        ),
        pytest.param(
            "2024-05-01T02:31:00-05:00",
            datetime(2024, 5, 1, 7, 31, tzinfo=UTC),
            id="negative-offset",
        ),
        pytest.param("2024-05-01T07:31:00", None, id="naive"),
        pytest.param("2024-05-01", None, id="date-only"),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param("2024-05-01T23:59:60Z", None, id="leap-second"),
        pytest.param(1714548660, None, id="epoch-number"),
        pytest.param(None, None, id="null"),
    ],
)
def test_parse_sent_at_is_lenient(sent_at: object, expected: datetime | None) -> None:
    [message] = chat.parse(payload(sent_at=sent_at), {}).messages

    assert message.sent_at == expected


def test_parse_without_sent_at() -> None:
    [message] = chat.parse(json.dumps(MINIMAL).encode(), {}).messages

    assert message.sent_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b'{"message_id": "cm_1", \xff}', "body", id="not-utf8"),
        pytest.param(b'{"message_id": ', "body", id="truncated-json"),
        pytest.param(b"[]", "body", id="not-an-object"),
        pytest.param(b"", "body", id="empty"),
        pytest.param(b"[" * 100_000, "body", id="nested-too-deep"),
        pytest.param(
            payload(text=json.loads("[" * 33 + "]" * 33)), "body", id="deep-value"
        ),
        pytest.param(payload(message_id="\x00"), "message_id", id="id-only-nul"),
        pytest.param(payload(message_id=""), "message_id", id="empty-message-id"),
        pytest.param(payload(message_id=7), "message_id", id="numeric-message-id"),
        pytest.param(
            json.dumps({"visitor": MINIMAL["visitor"], "text": "x"}).encode(),
            "message_id",
            id="missing-message-id",
        ),
        pytest.param(payload(visitor="vis_1"), "visitor", id="visitor-not-object"),
        pytest.param(
            payload(visitor={"verified": True}), "visitor.id", id="no-visitor-id"
        ),
        pytest.param(
            payload(visitor={"id": "", "verified": True}),
            "visitor.id",
            id="empty-visitor-id",
        ),
        pytest.param(
            payload(visitor={"id": "v", "verified": "yes"}),
            "visitor.verified",
            id="verified-not-bool",
        ),
        pytest.param(
            payload(visitor={"id": "v"}), "visitor.verified", id="verified-missing"
        ),
        pytest.param(
            payload(visitor={"id": "v", "name": 5, "verified": True}),
            "visitor.name",
            id="name-not-string",
        ),
        pytest.param(payload(text=None), "text", id="null-text"),
        pytest.param(payload(text=42), "text", id="numeric-text"),
        pytest.param(payload(attachments={}), "attachments", id="attachments-not-list"),
        pytest.param(
            payload(attachments=[{"filename": "a.png"}]),
            "attachments.0.url",
            id="attachment-without-url",
        ),
        pytest.param(
            payload(attachments=[{"url": "https://x/a", "size": "12"}]),
            "attachments.0.size",
            id="size-as-string",
        ),
        pytest.param(
            payload(
                attachments=[{"url": "https://x/a"}, {"url": "https://x/b", "size": -1}]
            ),
            "attachments.1.size",
            id="negative-size",
        ),
    ],
)
def test_parse_rejects_malformed(body: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        chat.parse(body, {})

    assert caught.value.field == field
    assert caught.value.reason
