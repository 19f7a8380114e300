"""Chat widget sender: the signed body verifies like an inbound chat webhook."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from connectors import chat as inbound_chat
from connectors.model import SignatureInvalid, WebhookRequest
from connectors.signing import sign_body
from outbound import chat
from outbound.model import (
    Delivery,
    MediaLink,
    SendOutcome,
    SendRefused,
    Template,
    Verdict,
)
from tests.outbound.samples import sample

SECRET = "chat-widget-secret"
CONFIG = chat.Config(delivery_url="https://widget.acme.example/deliver", secret=SECRET)
REPLY = Delivery(
    message_id="msg-1",
    provider="chat",
    channel="chat",
    to="vis_1",
    text="Hello Ada — here you go 👋",
    attachments=(
        MediaLink(
            url="https://files.example.com/r.pdf",
            filename="r.pdf",
            content_type="application/pdf",
        ),
    ),
)


def signed(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def test_build_signed_json() -> None:
    (built,) = chat.build(REPLY, CONFIG)
    assert built.method == "POST"
    assert built.url == CONFIG.delivery_url
    assert built.json is None
    assert built.content is not None
    assert json.loads(built.content) == {
        "message_id": "msg-1",
        "visitor_id": "vis_1",
        "text": "Hello Ada — here you go 👋",
        "attachments": [
            {
                "url": "https://files.example.com/r.pdf",
                "filename": "r.pdf",
                "content_type": "application/pdf",
            }
        ],
    }
    assert signed(built.headers)["content-type"] == "application/json"


def test_signature_verifies_with_the_inbound_chat_check() -> None:
    (built,) = chat.build(replace(REPLY, reply_to="cm_7"), CONFIG)
    assert built.content is not None
    request = WebhookRequest(
        body=built.content,
        headers=signed(built.headers),
        url=CONFIG.delivery_url,
        received_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    inbound_chat.verify(request, SECRET)  # raises if the signature does not match
    assert json.loads(built.content)["reply_to"] == "cm_7"
    with pytest.raises(SignatureInvalid):
        inbound_chat.verify(request, "another-secret")


def test_signature_is_the_documented_hmac() -> None:
    # HMAC-SHA256 of b'{"text":"hi"}' under SECRET, as in tests/connectors/test_chat.py.
    assert sign_body(b'{"text":"hi"}', SECRET) == (
        "sha256=2cbb0ae45251e8145def270a3d7f82503d311c91aacf12071a25f9bda74c2429"
    )


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [
        pytest.param(
            replace(REPLY, text=" ", attachments=()),
            "nothing to send: no text or attachment",
            id="blank",
        ),
        pytest.param(
            replace(REPLY, template=Template(name="x", language="en")),
            "the chat widget has no message templates; send text",
            id="template",
        ),
    ],
)
def test_build_refuses(delivery: Delivery, reason: str) -> None:
    with pytest.raises(SendRefused) as caught:
        chat.build(delivery, CONFIG)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("status", "headers", "body", "message_id", "expected"),
    [
        pytest.param(
            200,
            {},
            sample("chat", "accepted.json"),
            "msg-1",
            SendOutcome(
                verdict=Verdict.sent, provider_message_ids=("widget-msg-81f2",)
            ),
            id="200-receiver-id",
        ),
        pytest.param(
            204,
            {},
            b"",
            "msg-1",
            SendOutcome(verdict=Verdict.sent, provider_message_ids=("msg-1",)),
            id="204-our-id",
        ),
        pytest.param(
            202,
            {},
            b"accepted",
            None,
            SendOutcome(verdict=Verdict.sent),
            id="202-no-id-known",
        ),
        pytest.param(
            404,
            {},
            b'{"detail": "unknown visitor"}',
            "msg-1",
            SendOutcome(
                verdict=Verdict.failed,
                error_code="404",
                error_message="unknown visitor",
            ),
            id="404-problem-detail",
        ),
        pytest.param(
            401,
            {},
            b"bad signature",
            "msg-1",
            SendOutcome(
                verdict=Verdict.failed, error_code="401", error_message="bad signature"
            ),
            id="401",
        ),
        pytest.param(
            429,
            {"Retry-After": "3"},
            b"",
            "msg-1",
            SendOutcome(
                verdict=Verdict.retry,
                error_code="429",
                error_message="429 Too Many Requests",
                retry_after_seconds=3.0,
            ),
            id="429",
        ),
        pytest.param(
            503,
            {},
            b"",
            "msg-1",
            SendOutcome(
                verdict=Verdict.retry,
                error_code="503",
                error_message="503 Service Unavailable",
            ),
            id="503",
        ),
        pytest.param(
            500,
            {},
            b"",
            "msg-1",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="500",
                error_message="500 Internal Server Error",
            ),
            id="500",
        ),
        pytest.param(
            502,
            {},
            b"",
            "msg-1",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="502",
                error_message="502 Bad Gateway",
            ),
            id="502",
        ),
        pytest.param(
            504,
            {},
            b"",
            "msg-1",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="504",
                error_message="504 Gateway Timeout",
            ),
            id="504",
        ),
    ],
)
def test_interpret(
    status: int,
    headers: dict[str, str],
    body: bytes,
    message_id: str | None,
    expected: SendOutcome,
) -> None:
    assert chat.interpret(status, headers, body, message_id=message_id) == expected
