"""WhatsApp Cloud API sender: exact messages requests, and every class of answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from outbound import whatsapp
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

CONFIG = whatsapp.Config(phone_number_id="106540352242922", access_token="wa-token")
URL = "https://graph.facebook.com/v21.0/106540352242922/messages"
HEADERS = (("Authorization", "Bearer wa-token"),)
WAMID = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
TEXT = Delivery(
    message_id="msg-1",
    provider="whatsapp",
    channel="whatsapp",
    to="16505076520",
    text="Your order shipped.",
)
ENVELOPE = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "16505076520",
}
PHOTO = MediaLink(url="https://files.example.com/a.jpg", content_type="image/jpeg")
INVOICE = MediaLink(
    url="https://files.example.com/i.pdf",
    filename="invoice.pdf",
    content_type="application/pdf",
)


def call(body: dict[str, object]) -> HttpCall:
    return HttpCall(method="POST", url=URL, headers=HEADERS, json=body)


def text(body: str, **extra: object) -> HttpCall:
    return call({**ENVELOPE, "type": "text", "text": {"body": body}, **extra})


def media(kind: str, content: dict[str, object], **extra: object) -> HttpCall:
    return call({**ENVELOPE, "type": kind, kind: content, **extra})


CONTEXT = {"context": {"message_id": WAMID}}


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        pytest.param(TEXT, (text(TEXT.text),), id="text"),
        pytest.param(
            replace(TEXT, reply_to=WAMID), (text(TEXT.text, **CONTEXT),), id="reply"
        ),
        pytest.param(
            replace(TEXT, template=Template(name="hello_world", language="en_US")),
            (
                call(
                    {
                        **ENVELOPE,
                        "type": "template",
                        "template": {
                            "name": "hello_world",
                            "language": {"code": "en_US"},
                        },
                    }
                ),
            ),
            id="template-no-variables",
        ),
        pytest.param(
            replace(
                TEXT,
                template=Template(
                    name="order_update", language="de", variables=("Ada", "A-17")
                ),
            ),
            (
                call(
                    {
                        **ENVELOPE,
                        "type": "template",
                        "template": {
                            "name": "order_update",
                            "language": {"code": "de"},
                            "components": [
                                {
                                    "type": "body",
                                    "parameters": [
                                        {"type": "text", "text": "Ada"},
                                        {"type": "text", "text": "A-17"},
                                    ],
                                }
                            ],
                        },
                    }
                ),
            ),
            id="template-body-parameters",
        ),
        pytest.param(
            replace(TEXT, reply_to=WAMID, attachments=(PHOTO, INVOICE)),
            (
                text(TEXT.text, **CONTEXT),
                media("image", {"link": PHOTO.url}),
                media("document", {"link": INVOICE.url, "filename": "invoice.pdf"}),
            ),
            id="text-then-one-message-per-attachment-context-on-first",
        ),
        pytest.param(
            replace(TEXT, text="", reply_to=WAMID, attachments=(INVOICE,)),
            (
                media(
                    "document",
                    {"link": INVOICE.url, "filename": "invoice.pdf"},
                    **CONTEXT,
                ),
            ),
            id="attachment-only-quotes",
        ),
    ],
)
def test_build(delivery: Delivery, expected: tuple[HttpCall, ...]) -> None:
    assert whatsapp.build(delivery, CONFIG) == expected


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        pytest.param("image/jpeg", "image", id="jpeg"),
        pytest.param("IMAGE/PNG; q=1", "image", id="png-case-and-params"),
        pytest.param("image/gif", "document", id="gif-is-no-image"),
        pytest.param("video/mp4", "video", id="mp4"),
        pytest.param("video/quicktime", "document", id="mov-is-no-video"),
        pytest.param("audio/ogg", "audio", id="ogg"),
        pytest.param(None, "document", id="unknown"),
    ],
)
def test_build_media_kind(content_type: str | None, kind: str) -> None:
    link = MediaLink(url="https://files.example.com/x", content_type=content_type)
    (built,) = whatsapp.build(replace(TEXT, text="", attachments=(link,)), CONFIG)
    assert isinstance(built.json, dict)
    assert built.json["type"] == kind
    assert built.json[kind] == {"link": link.url}


def test_build_splits_text_over_4096_utf16_units() -> None:
    calls = whatsapp.build(replace(TEXT, text="😀" * 2049), CONFIG)
    bodies = [c.json["text"]["body"] for c in calls if isinstance(c.json, dict)]
    assert [len(body) for body in bodies] == [2048, 1]


def test_build_custom_graph_base_and_version() -> None:
    config = replace(CONFIG, graph_base="http://127.0.0.1:9000/", version="v23.0")
    (built,) = whatsapp.build(TEXT, config)
    assert built.url == "http://127.0.0.1:9000/v23.0/106540352242922/messages"


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [
        pytest.param(
            replace(TEXT, text=" \n"),
            "nothing to send: no text, template or attachment",
            id="blank",
        ),
        pytest.param(
            replace(
                TEXT,
                template=Template(name="hello_world", language="en_US"),
                attachments=(PHOTO,),
            ),
            "a template message carries no further attachments",
            id="template-with-attachment",
        ),
    ],
)
def test_build_refuses(delivery: Delivery, reason: str) -> None:
    with pytest.raises(SendRefused) as caught:
        whatsapp.build(delivery, CONFIG)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(
            200,
            {},
            sample("whatsapp", "message_sent.json"),
            SendOutcome(verdict=Verdict.sent, provider_message_ids=(WAMID,)),
            id="200-sent",
        ),
        pytest.param(
            400,
            {},
            sample("whatsapp", "error_131047.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="131047",
                error_message="(#131047) Re-engagement message; Message failed to send"
                " because more than 24 hours have passed since the customer last"
                " replied to this number.",
            ),
            id="400-outside-24h-window",
        ),
        pytest.param(
            400,
            {},
            sample("whatsapp", "error_130429.json"),
            SendOutcome(
                verdict=Verdict.retry,
                error_code="130429",
                error_message="(#130429) Rate limit hit; Cloud API message throughput"
                " has been reached.",
            ),
            id="400-throughput-is-retry",
        ),
        pytest.param(
            400,
            {"retry-after": "2"},
            sample("whatsapp", "error_131056.json"),
            SendOutcome(
                verdict=Verdict.retry,
                error_code="131056",
                error_message="(#131056) (Business Account, Consumer Account) pair rate"
                " limit hit; Message failed to send because there were too many"
                " messages sent from this phone number to the same phone number in a"
                " short period of time.",
                retry_after_seconds=2.0,
            ),
            id="400-pair-rate-limit-is-retry",
        ),
        pytest.param(
            401,
            {},
            sample("whatsapp", "error_190.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="190/463",
                error_message="Error validating access token: Session has expired on"
                " Tuesday, 01-Aug-23 15:00:00 PDT.",
            ),
            id="401-expired-token-with-subcode",
        ),
        pytest.param(
            429,
            {"Retry-After": "30"},
            b"",
            SendOutcome(
                verdict=Verdict.retry,
                error_code="429",
                error_message="429 Too Many Requests",
                retry_after_seconds=30.0,
            ),
            id="429-plain",
        ),
        pytest.param(
            503,
            {},
            b'{"error": {"message": "Service unavailable", "code": 131016}}',
            SendOutcome(
                verdict=Verdict.retry,
                error_code="131016",
                error_message="Service unavailable",
            ),
            id="503-service-unavailable",
        ),
        pytest.param(
            500,
            {},
            b'{"error": {"message": "(#131000) Something went wrong", "code": 131000}}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="131000",
                error_message="(#131000) Something went wrong",
            ),
            id="500-may-have-gone",
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
            b"upstream timeout",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="504",
                error_message="upstream timeout",
            ),
            id="504",
        ),
        pytest.param(
            200,
            {},
            b'{"messaging_product": "whatsapp", "messages": []}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="200",
                error_message='200 answer without a readable message id: {"messaging_product":'
                ' "whatsapp", "messages": []}',
            ),
            id="200-without-id",
        ),
        pytest.param(
            200,
            {},
            b'{"error": {"message": "odd", "code": 1}}',
            SendOutcome(verdict=Verdict.unknown, error_code="1", error_message="odd"),
            id="200-with-error-document",
        ),
    ],
)
def test_interpret(
    status: int, headers: dict[str, str], body: bytes, expected: SendOutcome
) -> None:
    assert whatsapp.interpret(status, headers, body) == expected
