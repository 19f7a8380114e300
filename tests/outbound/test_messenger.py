"""Messenger and Instagram sender: exact Send API requests, and every class of answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from outbound import messenger
from outbound.model import (
    Delivery,
    HttpCall,
    MediaLink,
    SendOutcome,
    SendRefused,
    Template,
    Verdict,
)
from tests.outbound.samples import sample

PAGE = messenger.Config(account_id="1067280970047460", access_token="page-token")
URL = "https://graph.facebook.com/v21.0/1067280970047460/messages"
HEADERS = (("Authorization", "Bearer page-token"),)
TEXT = Delivery(
    message_id="msg-1",
    provider="messenger",
    channel="messenger",
    to="1254477777772919",
    text="Your order shipped.",
)
INSTAGRAM = replace(TEXT, provider="instagram", channel="instagram", to="IGSID-1")
PHOTO = MediaLink(url="https://files.example.com/a.jpg", content_type="image/jpeg")
PDF = MediaLink(url="https://files.example.com/b.pdf", content_type="application/pdf")
RESPONSE = {"recipient": {"id": "1254477777772919"}, "messaging_type": "RESPONSE"}
HUMAN_AGENT = {
    "recipient": {"id": "1254477777772919"},
    "messaging_type": "MESSAGE_TAG",
    "tag": "HUMAN_AGENT",
}


def call(body: dict[str, object]) -> HttpCall:
    return HttpCall(method="POST", url=URL, headers=HEADERS, json=body)


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        pytest.param(
            TEXT,
            (call({**RESPONSE, "message": {"text": TEXT.text}}),),
            id="text-response",
        ),
        pytest.param(
            replace(TEXT, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT"),
            (call({**HUMAN_AGENT, "message": {"text": TEXT.text}}),),
            id="human-agent-tag",
        ),
        pytest.param(
            replace(TEXT, attachments=(PHOTO, PDF)),
            (
                call({**RESPONSE, "message": {"text": TEXT.text}}),
                call(
                    {
                        **RESPONSE,
                        "message": {
                            "attachment": {
                                "type": "image",
                                "payload": {"url": PHOTO.url, "is_reusable": True},
                            }
                        },
                    }
                ),
                call(
                    {
                        **RESPONSE,
                        "message": {
                            "attachment": {
                                "type": "file",
                                "payload": {"url": PDF.url, "is_reusable": True},
                            }
                        },
                    }
                ),
            ),
            id="text-then-attachments",
        ),
        pytest.param(
            replace(INSTAGRAM, attachments=(PHOTO,)),
            (
                call(
                    {
                        "recipient": {"id": "IGSID-1"},
                        "messaging_type": "RESPONSE",
                        "message": {"text": TEXT.text},
                    }
                ),
                call(
                    {
                        "recipient": {"id": "IGSID-1"},
                        "messaging_type": "RESPONSE",
                        "message": {
                            "attachment": {
                                "type": "image",
                                "payload": {"url": PHOTO.url},
                            }
                        },
                    }
                ),
            ),
            id="instagram-attachment-payload-is-url-only",
        ),
    ],
)
def test_build(delivery: Delivery, expected: tuple[HttpCall, ...]) -> None:
    assert messenger.build(delivery, PAGE) == expected


def test_build_instagram_login_host() -> None:
    config = messenger.Config(
        account_id="17841400000000000",
        access_token="ig-token",
        graph_base="https://graph.instagram.com",
        version="v23.0",
    )
    (built,) = messenger.build(INSTAGRAM, config)
    assert built.url == "https://graph.instagram.com/v23.0/17841400000000000/messages"
    assert built.headers == (("Authorization", "Bearer ig-token"),)


@pytest.mark.parametrize(
    ("delivery", "limit", "measure", "count"),
    [
        pytest.param(
            replace(TEXT, text="é " * 1500),
            2000,
            len,
            2,
            id="messenger-2000-characters",
        ),
        pytest.param(
            replace(INSTAGRAM, text="é " * 700),  # 2,100 bytes
            1000,
            lambda part: len(part.encode()),
            3,
            id="instagram-1000-bytes",
        ),
    ],
)
def test_build_splits_long_text(
    delivery: Delivery, limit: int, measure: Callable[[str], int], count: int
) -> None:
    calls = messenger.build(delivery, PAGE)
    texts = [c.json["message"]["text"] for c in calls if isinstance(c.json, dict)]
    assert len(texts) == count
    assert all(measure(part) <= limit for part in texts)
    assert " ".join(texts) == delivery.text


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [
        pytest.param(
            replace(TEXT, messaging_type="MESSAGE_TAG"),
            "messaging_type MESSAGE_TAG needs a tag (HUMAN_AGENT)",
            id="tag-missing",
        ),
        pytest.param(
            replace(TEXT, messaging_type="PROMO"),
            "unknown messaging_type 'PROMO'",
            id="bad-messaging-type",
        ),
        pytest.param(
            replace(TEXT, template=Template(name="x", language="en")),
            "messenger has no message templates; send text",
            id="template",
        ),
        pytest.param(
            replace(TEXT, text=""), "nothing to send: no text or attachment", id="blank"
        ),
    ],
)
def test_build_refuses(delivery: Delivery, reason: str) -> None:
    with pytest.raises(SendRefused) as caught:
        messenger.build(delivery, PAGE)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(
            200,
            {},
            sample("messenger", "message_sent.json"),
            SendOutcome(
                verdict=Verdict.sent,
                provider_message_ids=(
                    "AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
                ),
            ),
            id="200-sent",
        ),
        pytest.param(
            400,
            {},
            sample("messenger", "error_outside_window.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="10/2018278",
                error_message="(#10) This message is sent outside of allowed window."
                " Learn more about the new policy here:"
                " https://developers.facebook.com/docs/messenger-platform/policy-overview",
            ),
            id="400-outside-window",
        ),
        pytest.param(
            400,
            {},
            sample("messenger", "error_613.json"),
            SendOutcome(
                verdict=Verdict.retry,
                error_code="613",
                error_message="(#613) Calls to this api have exceeded the rate limit.",
            ),
            id="400-rate-limit-is-retry",
        ),
        pytest.param(
            400,
            {},
            sample("messenger", "error_551.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="551/1545041",
                error_message="(#551) This person isn't available right now.",
            ),
            id="400-person-unavailable",
        ),
        pytest.param(
            429,
            {"Retry-After": "60"},
            b"",
            SendOutcome(
                verdict=Verdict.retry,
                error_code="429",
                error_message="429 Too Many Requests",
                retry_after_seconds=60.0,
            ),
            id="429",
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
            b'{"error": {"message": "An unknown error has occurred.", "code": 1}}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="1",
                error_message="An unknown error has occurred.",
            ),
            id="500",
        ),
        pytest.param(
            502,
            {},
            b"",
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
            b'{"recipient_id": "1254477777772919"}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="200",
                error_message="200 answer without a readable message id:"
                ' {"recipient_id": "1254477777772919"}',
            ),
            id="200-without-message-id",
        ),
    ],
)
def test_interpret(
    status: int, headers: dict[str, str], body: bytes, expected: SendOutcome
) -> None:
    assert messenger.interpret(status, headers, body) == expected
