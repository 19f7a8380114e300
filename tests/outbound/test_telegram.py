"""Telegram sender: exact Bot API requests, splitting, and every class of answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from outbound import telegram
from outbound.model import (
    Delivery,
    HttpCall,
    MediaLink,
    SendOutcome,
    SendRefused,
    Template,
    Verdict,
)
from outbound.text_split import utf16_units
from tests.outbound.samples import sample

CONFIG = telegram.Config(token="123456:ABC-DEF")
BASE = "https://api.telegram.org/bot123456:ABC-DEF"
TEXT = Delivery(
    message_id="msg-1",
    provider="telegram",
    channel="telegram",
    to="123456789",
    text="Your order *shipped* <b>today</b>",
)
PHOTO = MediaLink(url="https://files.example.com/a.jpg", content_type="image/jpeg")
PDF = MediaLink(url="https://files.example.com/b.pdf", content_type="application/pdf")
QUOTE = {"message_id": 4242, "allow_sending_without_reply": True}


def call(method: str, body: dict[str, object]) -> HttpCall:
    return HttpCall(method="POST", url=f"{BASE}/{method}", json=body)


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        pytest.param(
            TEXT,
            (call("sendMessage", {"chat_id": 123456789, "text": TEXT.text}),),
            id="text-no-parse-mode",
        ),
        pytest.param(
            replace(TEXT, to="-1001234567890"),
            (call("sendMessage", {"chat_id": -1001234567890, "text": TEXT.text}),),
            id="group-chat-id-is-a-number",
        ),
        pytest.param(
            replace(TEXT, to="@acme_news"),
            (call("sendMessage", {"chat_id": "@acme_news", "text": TEXT.text}),),
            id="channel-username",
        ),
        pytest.param(
            replace(TEXT, reply_to="123456789:4242"),
            (
                call(
                    "sendMessage",
                    {
                        "chat_id": 123456789,
                        "text": TEXT.text,
                        "reply_parameters": QUOTE,
                    },
                ),
            ),
            id="reply-to-inbound-id",
        ),
        pytest.param(
            replace(TEXT, reply_to="4242"),
            (
                call(
                    "sendMessage",
                    {
                        "chat_id": 123456789,
                        "text": TEXT.text,
                        "reply_parameters": QUOTE,
                    },
                ),
            ),
            id="reply-to-bare-message-id",
        ),
        pytest.param(
            replace(TEXT, reply_to="wamid.XYZ"),
            (call("sendMessage", {"chat_id": 123456789, "text": TEXT.text}),),
            id="unreadable-reply-id-sends-unquoted",
        ),
        pytest.param(
            replace(TEXT, reply_to="123456789:4242", attachments=(PHOTO, PDF)),
            (
                call(
                    "sendMessage",
                    {
                        "chat_id": 123456789,
                        "text": TEXT.text,
                        "reply_parameters": QUOTE,
                    },
                ),
                call("sendPhoto", {"chat_id": 123456789, "photo": PHOTO.url}),
                call("sendDocument", {"chat_id": 123456789, "document": PDF.url}),
            ),
            id="text-then-photo-then-document",
        ),
        pytest.param(
            replace(TEXT, text="", reply_to="4242", attachments=(PDF,)),
            (
                call(
                    "sendDocument",
                    {
                        "chat_id": 123456789,
                        "document": PDF.url,
                        "reply_parameters": QUOTE,
                    },
                ),
            ),
            id="attachment-only-quotes",
        ),
    ],
)
def test_build(delivery: Delivery, expected: tuple[HttpCall, ...]) -> None:
    assert telegram.build(delivery, CONFIG) == expected


def test_build_splits_at_4096_utf16_units_with_emoji() -> None:
    paragraph = "Thanks 🙏 " * 300  # 2,700 units
    text = paragraph + "\n\n" + paragraph
    calls = telegram.build(replace(TEXT, text=text, reply_to="4242"), CONFIG)
    bodies = [c.json for c in calls if isinstance(c.json, dict)]
    texts = [str(body["text"]) for body in bodies]
    assert texts == [paragraph, paragraph]
    assert all(utf16_units(part) <= telegram.MAX_TEXT for part in texts)
    assert "reply_parameters" in bodies[0]
    assert "reply_parameters" not in bodies[1]
    assert all("parse_mode" not in body for body in bodies)


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [
        pytest.param(
            replace(TEXT, text="   "),
            "nothing to send: no text or attachment",
            id="blank",
        ),
        pytest.param(
            replace(TEXT, template=Template(name="x", language="en")),
            "Telegram has no message templates; send text",
            id="template",
        ),
    ],
)
def test_build_refuses(delivery: Delivery, reason: str) -> None:
    with pytest.raises(SendRefused) as caught:
        telegram.build(delivery, CONFIG)
    assert caught.value.reason == reason


def test_config_repr_hides_the_token() -> None:
    assert "ABC-DEF" not in repr(CONFIG)


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(
            200,
            {},
            sample("telegram", "send_message_ok.json"),
            SendOutcome(verdict=Verdict.sent, provider_message_ids=("123456789:4242",)),
            id="200-id-is-chat-and-message",
        ),
        pytest.param(
            429,
            {},
            sample("telegram", "error_429.json"),
            SendOutcome(
                verdict=Verdict.retry,
                error_code="429",
                error_message="Too Many Requests: retry after 35",
                retry_after_seconds=35.0,
            ),
            id="429-parameters-retry-after",
        ),
        pytest.param(
            429,
            {"Retry-After": "7"},
            b'{"ok": false, "error_code": 429, "description": "Too Many Requests"}',
            SendOutcome(
                verdict=Verdict.retry,
                error_code="429",
                error_message="Too Many Requests",
                retry_after_seconds=7.0,
            ),
            id="429-header-when-no-parameters",
        ),
        pytest.param(
            403,
            {},
            sample("telegram", "error_403_blocked.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="403",
                error_message="Forbidden: bot was blocked by the user",
            ),
            id="403-blocked",
        ),
        pytest.param(
            400,
            {},
            sample("telegram", "error_400_chat_not_found.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="400",
                error_message="Bad Request: chat not found",
            ),
            id="400-chat-not-found",
        ),
        pytest.param(
            400,
            {},
            sample("telegram", "error_400_migrated.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="400",
                error_message="Bad Request: group chat was upgraded to a supergroup"
                " chat (the group is now chat -1001234567890)",
            ),
            id="400-migrated",
        ),
        pytest.param(
            401,
            {},
            b'{"ok": false, "error_code": 401, "description": "Unauthorized"}',
            SendOutcome(
                verdict=Verdict.failed, error_code="401", error_message="Unauthorized"
            ),
            id="401-bad-token",
        ),
        pytest.param(
            503,
            {},
            b"",
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
            b'{"ok": false, "error_code": 500, "description": "Internal Server Error"}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="500",
                error_message="Internal Server Error",
            ),
            id="500",
        ),
        pytest.param(
            502,
            {},
            b"<html>502 Bad Gateway</html>",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="502",
                error_message="<html>502 Bad Gateway</html>",
            ),
            id="502",
        ),
        pytest.param(
            504,
            {},
            b"",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="504",
                error_message="504 Gateway Timeout",
            ),
            id="504",
        ),
        pytest.param(
            200,
            {},
            b'{"ok": true, "result": {"message_id": 1}}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="200",
                error_message='200 answer without a readable message id: {"ok": true,'
                ' "result": {"message_id": 1}}',
            ),
            id="200-without-chat-id",
        ),
        pytest.param(
            200,
            {},
            b'{"ok": false, "error_code": 400, "description": "odd"}',
            SendOutcome(verdict=Verdict.unknown, error_code="400", error_message="odd"),
            id="200-not-ok",
        ),
    ],
)
def test_interpret(
    status: int, headers: dict[str, str], body: bytes, expected: SendOutcome
) -> None:
    assert telegram.interpret(status, headers, body) == expected
