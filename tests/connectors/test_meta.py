"""connectors.meta: WhatsApp Cloud API, Messenger and Instagram webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import meta
from connectors.model import (
    Attachment,
    Channel,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    Parsed,
    PayloadInvalid,
    Rejected,
    SignatureInvalid,
    WebhookRequest,
)

DATA = Path(__file__).parent.parent / "data" / "meta"
W = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQz"  # common prefix of Sheena's sample wamids
SHEENA = IdentityClaim(
    kind=IdentityKind.phone, value="+16505551234", name="Sheena Nelson"
)
PABLO = IdentityClaim(
    kind=IdentityKind.phone, value="+5215512345678", name="Pablo Morales"
)
PSID = IdentityClaim(kind=IdentityKind.messenger, value="6745348372145920")
IGSID = IdentityClaim(kind=IdentityKind.instagram, value="1045934719324512")
PAGE = "107712345678901"
FEB_12 = datetime(2025, 2, 12, 0, 43, 44, tzinfo=UTC)  # unix 1739321024
SHEENA_CONTACT = {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}


def sample(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def at(offset: int) -> datetime:
    return FEB_12 + timedelta(seconds=offset)


def media(
    media_id: str, mime: str, filename: str | None = None
) -> tuple[Attachment, ...]:
    return (
        Attachment(provider_media_id=media_id, content_type=mime, filename=filename),
    )


def wa(
    wamid: str,
    sent_at: datetime,
    text: str,
    content_type: str,
    *,
    attachments: tuple[Attachment, ...] = (),
    sender: IdentityClaim = SHEENA,
    recipient: str = "15550783881",
) -> InboundMessage:
    return InboundMessage(
        provider="meta",
        provider_message_id=wamid,
        channel=Channel.whatsapp,
        sender=sender,
        text=text,
        sent_at=sent_at,
        attachments=attachments,
        recipient=recipient,
        content_type=content_type,
    )


def chat(
    mid: str,
    sent_at: datetime | None,
    text: str,
    content_type: str,
    *,
    sender: IdentityClaim = PSID,
    channel: Channel = Channel.messenger,
    recipient: str | None = PAGE,
    attachments: tuple[Attachment, ...] = (),
) -> InboundMessage:
    return InboundMessage(
        provider="meta",
        provider_message_id=mid,
        channel=channel,
        sender=sender,
        text=text,
        sent_at=sent_at,
        attachments=attachments,
        recipient=recipient,
        content_type=content_type,
    )


def whatsapp_body(value: Mapping[str, object], field: str = "messages") -> bytes:
    change = {"field": field, "value": value}
    entry = {"id": "102290129340398", "changes": [change]}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [entry]}
    ).encode()


def one_message(**fields: object) -> dict[str, object]:
    message = {
        "from": "16505551234",
        "id": "wamid.X",
        "timestamp": "1739321024",
        **fields,
    }
    return {"metadata": METADATA, "contacts": [SHEENA_CONTACT], "messages": [message]}


def messaging_body(*events: dict[str, object], obj: str = "page") -> bytes:
    entry = {"id": PAGE, "time": 1458692752600, "messaging": list(events)}
    return json.dumps({"object": obj, "entry": [entry]}).encode()


def event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sender": {"id": PSID.value},
        "recipient": {"id": PAGE},
        "timestamp": 1458692752478,
    }
    return base | fields


MARCH_23_2016 = datetime(2016, 3, 23, 0, 25, 52, 478000, tzinfo=UTC)  # 1458692752478 ms


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "whatsapp_text",
            [
                wa(
                    W + "QTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC),
                    "Does it come in another color?",
                    "text",
                )
            ],
            id="text",
        ),
        pytest.param(
            "whatsapp_image",
            [
                wa(
                    W + "QUFERjg0NDEzNDdFODU3MUMxMAA=",
                    at(0),
                    "The best succulent ever?",
                    "image",
                    attachments=media("1003383421387256", "image/jpeg"),
                )
            ],
            id="image-with-caption",
        ),
        pytest.param(
            "whatsapp_audio",
            [
                wa(
                    W + "QjhGRDAzNkQ0QkY0NkE5NDY4QQA=",
                    at(1),
                    "",
                    "audio",
                    attachments=media("1047295836590234", "audio/ogg; codecs=opus"),
                )
            ],
            id="audio-voice-note",
        ),
        pytest.param(
            "whatsapp_video",
            [
                wa(
                    W + "RTBBMzU0MTg4QjI3RjIwQTlCQwA=",
                    at(2),
                    "Unboxing",
                    "video",
                    attachments=media("1166846181421424", "video/mp4"),
                )
            ],
            id="video",
        ),
        pytest.param(
            "whatsapp_document",
            [
                wa(
                    W + "NDZCQ0E4RDg1RjlBNkNGMjUwRgA=",
                    at(3),
                    "Receipt for order 1234",
                    "document",
                    attachments=media(
                        "1376223850470843", "application/pdf", "receipt-1234.pdf"
                    ),
                )
            ],
            id="document-with-filename",
        ),
        pytest.param(
            "whatsapp_sticker",
            [
                wa(
                    W + "OTlBRTI1NzE2MkQzRUU1MDlBNwA=",
                    at(4),
                    "",
                    "sticker",
                    attachments=media("1220186162546066", "image/webp"),
                )
            ],
            id="sticker",
        ),
        pytest.param(
            "whatsapp_location",
            [
                wa(
                    W + "QkM1QjA2QjIxMEQ1NkNBNDBGRQA=",
                    at(5),
                    "Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025"
                    " (37.483307, -122.148981)",
                    "location",
                )
            ],
            id="location",
        ),
        pytest.param(
            "whatsapp_interactive_button_reply",
            [wa(W + "Rjg5QjQ3M0JBRDQ0RjY2QkNCRAA=", at(6), "Cancel", "interactive")],
            id="interactive-button-reply",
        ),
        pytest.param(
            "whatsapp_interactive_list_reply",
            [
                wa(
                    W + "QkE1NzlGOEQ5QzNBMDA4RUFGQgA=",
                    at(7),
                    "Priority Mail Express",
                    "interactive",
                )
            ],
            id="interactive-list-reply",
        ),
        pytest.param(
            "whatsapp_button",
            [
                wa(
                    W + "NkUwQzFFNEE4NEQ2RjNDMkE5MQA=",
                    at(8),
                    "Stop promotions",
                    "button",
                )
            ],
            id="template-quick-reply-button",
        ),
        pytest.param(
            "whatsapp_reaction",
            [
                wa(
                    W + "NzRCMEE3RTZFNEM0QzQ1RjQzRQA=",
                    at(9),
                    "\N{THUMBS UP SIGN}",
                    "reaction",
                )
            ],
            id="reaction",
        ),
        pytest.param(
            "whatsapp_unsupported",
            [wa(W + "RDlEMTM5QjlFQzA5MkE2NUVGMAA=", at(10), "", "unsupported")],
            id="unsupported-type-kept",
        ),
        pytest.param("whatsapp_status", [], id="status-only"),
        pytest.param(
            "whatsapp_multi",
            [
                wa(
                    W + "QTc4RkYxQzQ5MkY1QzhEMjNBRgA=",
                    at(16),
                    "Hi, is my order on its way?",
                    "text",
                ),
                wa(
                    "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFDNBQjk4RTZCQzY0MzVDNUQ3MDY5AA==",
                    at(17),
                    "",
                    "image",
                    sender=PABLO,
                    attachments=media("3918291736452810", "image/jpeg"),
                ),
                wa(
                    W + "RkI0RTg0MTMyNUI3RjlDNUUxMAA=",
                    at(19),
                    "Thanks!",
                    "text",
                    recipient="15550001111",
                ),
            ],
            id="multi-entry-multi-message",
        ),
    ],
)
def test_parse_whatsapp_samples(name: str, expected: list[InboundMessage]) -> None:
    assert list(meta.parse(sample(name), {}).messages) == expected


@pytest.mark.parametrize(
    ("fields", "text", "content_type"),
    [
        pytest.param({"type": "text"}, "", "text", id="text-without-body-object"),
        pytest.param(
            {"location": {"name": "Pier 39", "address": "San Francisco"}},
            "Pier 39, San Francisco",
            "location",
            id="type-missing-named-from-content",
        ),
        pytest.param(
            {"type": "location", "location": {"latitude": 1.5, "longitude": -2.25}},
            "(1.5, -2.25)",
            "location",
            id="location-coordinates-only",
        ),
        pytest.param({}, "", "unknown", id="type-and-content-missing"),
        pytest.param(
            {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "b1"}},
            },
            "",
            "interactive",
            id="interactive-reply-without-title",
        ),
        pytest.param(
            {
                "type": "interactive",
                "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow"}},
            },
            "",
            "interactive",
            id="interactive-flow-reply",
        ),
        pytest.param(
            {"type": "button", "button": {"payload": "STOP"}},
            "",
            "button",
            id="button-without-text",
        ),
        pytest.param(
            {"type": "reaction", "reaction": {"message_id": "wamid.Y"}},
            "",
            "reaction",
            id="reaction-removed",
        ),
        pytest.param(
            {"type": "order", "order": {"catalog_id": "1", "product_items": []}},
            "",
            "order",
            id="unhandled-type-kept",
        ),
    ],
)
def test_parse_whatsapp_content(
    fields: dict[str, object], text: str, content_type: str
) -> None:
    [message] = meta.parse(whatsapp_body(one_message(**fields)), {}).messages
    assert (message.text, message.content_type, message.attachments) == (
        text,
        content_type,
        (),
    )


@pytest.mark.parametrize(
    ("value", "sender", "recipient"),
    [
        pytest.param(
            one_message(type="text", text={"body": "hi"})
            | {"contacts": [{"wa_id": "1"}]},
            IdentityClaim(kind=IdentityKind.phone, value="+16505551234"),
            "15550783881",
            id="no-matching-contact",
        ),
        pytest.param(
            {"messages": one_message(type="text", text={"body": "hi"})["messages"]},
            IdentityClaim(kind=IdentityKind.phone, value="+16505551234"),
            None,
            id="no-contacts-no-metadata",
        ),
        pytest.param(
            one_message(type="text", text={"body": "hi"})
            | {"metadata": {"phone_number_id": "106540352242922"}},
            SHEENA,
            "106540352242922",
            id="recipient-falls-back-to-phone-number-id",
        ),
    ],
)
def test_parse_whatsapp_sender_and_recipient(
    value: dict[str, object], sender: IdentityClaim, recipient: str | None
) -> None:
    [message] = meta.parse(whatsapp_body(value), {}).messages
    assert (message.sender, message.recipient) == (sender, recipient)


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        pytest.param("1739321024", FEB_12, id="string-seconds"),
        pytest.param(1739321024, FEB_12, id="integer-seconds"),
        pytest.param("yesterday", None, id="not-a-number"),
        pytest.param("1e9", None, id="float-notation"),
        pytest.param(None, None, id="null"),
        pytest.param(True, None, id="boolean"),
        pytest.param([1739321024], None, id="list"),
        pytest.param("9" * 20, None, id="out-of-range"),
    ],
)
def test_parse_whatsapp_sent_at(timestamp: object, sent_at: datetime | None) -> None:
    value = one_message(type="text", text={"body": "hi"}, timestamp=timestamp)
    [message] = meta.parse(whatsapp_body(value), {}).messages
    assert message.sent_at == sent_at


def test_parse_whatsapp_ignores_other_fields() -> None:
    value = {
        "event": "VERIFIED_ACCOUNT",
        "ban_info": {"waba_ban_state": "SCHEDULE_FOR_DISABLE"},
    }
    assert meta.parse(whatsapp_body(value, field="account_update"), {}).messages == ()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "messenger_text",
            [
                chat(
                    "m_1457764197618:41d102a3e1ae206a38",
                    MARCH_23_2016,
                    "hello, world!",
                    "text",
                )
            ],
            id="messenger-text",
        ),
        pytest.param(
            "messenger_quick_reply",
            [
                chat(
                    "mid.1457764197618:41d102a3e1ae206a39",
                    MARCH_23_2016 + timedelta(milliseconds=1),
                    "Red",
                    "quick_reply",
                )
            ],
            id="messenger-quick-reply",
        ),
        pytest.param(
            "messenger_attachment",
            [
                chat(
                    "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c",
                    datetime(2018, 2, 12, 23, 46, 35, 308000, tzinfo=UTC),
                    "",
                    "image",
                    recipient="682498302938465",
                    attachments=(
                        Attachment(
                            url="https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"
                        ),
                    ),
                )
            ],
            id="messenger-attachment",
        ),
        pytest.param("messenger_echo", [], id="messenger-echo-skipped"),
        pytest.param(
            "messenger_receipts", [], id="messenger-delivery-and-read-skipped"
        ),
        pytest.param(
            "messenger_postback",
            [
                chat(
                    "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
                    datetime(2018, 5, 27, 22, 23, 44, tzinfo=UTC),
                    "Get Started",
                    "postback",
                )
            ],
            id="messenger-postback",
        ),
        pytest.param(
            "instagram_text",
            [
                chat(
                    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMDk0OTEyODE3NTg2NjgxMDU2MTQ0NzozMTk3MjMyNjY2MzEyMzIxODc2NTk0NDc1NjQ3NTE3NjU3NgZDZD",
                    datetime(2019, 9, 23, 18, 14, 45, 349000, tzinfo=UTC),
                    "Do you have this in size M?",
                    "text",
                    sender=IGSID,
                    channel=Channel.instagram,
                    recipient="17841405822304914",
                )
            ],
            id="instagram-text",
        ),
        pytest.param("instagram_echo", [], id="instagram-echo-skipped"),
    ],
)
def test_parse_messaging_samples(name: str, expected: list[InboundMessage]) -> None:
    assert list(meta.parse(sample(name), {}).messages) == expected


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [event(postback={"title": "Menu", "payload": "MENU"})],
            [
                chat(
                    "postback:6745348372145920:1458692752478",
                    MARCH_23_2016,
                    "Menu",
                    "postback",
                )
            ],
            id="postback-without-mid",
        ),
        pytest.param(
            [
                event(
                    postback={"mid": "m_2", "payload": "MENU"},
                    timestamp="1458692752478",
                )
            ],
            [chat("m_2", MARCH_23_2016, "", "postback")],
            id="postback-without-title-string-timestamp",
        ),
        pytest.param(
            [
                event(
                    message={
                        "mid": "m_3",
                        "attachments": [
                            {"type": "fallback"},
                            {
                                "type": "file",
                                "payload": {"url": "https://cdn.test/a.pdf"},
                            },
                        ],
                    },
                    timestamp="soon",
                )
                | {"recipient": None}
            ],
            [
                chat(
                    "m_3",
                    None,
                    "",
                    "fallback",
                    recipient=None,
                    attachments=(
                        Attachment(),
                        Attachment(url="https://cdn.test/a.pdf"),
                    ),
                )
            ],
            id="attachments-without-payload-and-recipient",
        ),
        pytest.param(
            [event(message={"mid": "m_4", "is_unsupported": True})],
            [chat("m_4", MARCH_23_2016, "", "unsupported")],
            id="unsupported-media",
        ),
        pytest.param(
            [event(message={"mid": "m_5", "is_deleted": True})],
            [],
            id="unsend-notice-skipped",
        ),
        pytest.param(
            [
                {
                    "sender": {"user_ref": "u1"},
                    "recipient": {"id": PAGE},
                    "optin": {"ref": "x"},
                },
                event(
                    reaction={
                        "mid": "m_1",
                        "action": "react",
                        "emoji": "\N{HEAVY BLACK HEART}",
                    }
                ),
                event(message={"mid": "m_6", "text": "second"}),
            ],
            [chat("m_6", MARCH_23_2016, "second", "text")],
            id="events-without-message-skipped",
        ),
    ],
)
def test_parse_messaging_events(
    events: list[dict[str, object]], expected: list[InboundMessage]
) -> None:
    assert list(meta.parse(messaging_body(*events), {}).messages) == expected


def test_parse_keeps_order_across_entries() -> None:
    entries = [
        {"id": PAGE, "messaging": [event(message={"mid": f"m_{n}", "text": str(n)})]}
        for n in range(3)
    ]
    body = json.dumps({"object": "page", "entry": entries}).encode()
    assert [m.provider_message_id for m in meta.parse(body, {}).messages] == [
        "m_0",
        "m_1",
        "m_2",
    ]


def wa_messages(*messages: Mapping[str, object]) -> bytes:
    return whatsapp_body({"metadata": METADATA, "messages": list(messages)})


GOOD = {"from": "16505551234", "id": "wamid.A", "type": "text", "text": {"body": "hi"}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b"\xff\xfe{}", "body", id="not-utf8"),
        pytest.param(b'{"object": "page",', "body", id="truncated-json"),
        pytest.param(b"", "body", id="empty"),
        pytest.param(b"[" * 100_000, "body", id="nested-too-deep"),
        pytest.param(b'["page"]', "body", id="not-an-object"),
        pytest.param(b'{"entry": []}', "object", id="object-missing"),
        pytest.param(b'{"object": "user", "entry": []}', "object", id="object-unknown"),
        pytest.param(
            b'{"object": ["page"], "entry": []}', "object", id="object-not-a-string"
        ),
        pytest.param(
            b'{"object": "whatsapp_business_account"}',
            "entry",
            id="whatsapp-entry-missing",
        ),
        pytest.param(
            b'{"object": "page", "entry": {}}', "entry", id="messenger-entry-not-list"
        ),
        pytest.param(
            wa_messages(GOOD, {"from": "16505551234", "type": "text"}),
            "entry[0].changes[0].value.messages[1].id",
            id="whatsapp-message-id-missing",
        ),
        pytest.param(
            wa_messages({"id": "wamid.B", "type": "text"}),
            "entry[0].changes[0].value.messages[0].from",
            id="whatsapp-from-missing",
        ),
        pytest.param(
            wa_messages(GOOD | {"type": "image", "image": {"mime_type": "image/png"}}),
            "entry[0].changes[0].value.messages[0].image.id",
            id="whatsapp-media-id-missing",
        ),
        pytest.param(
            wa_messages(GOOD | {"text": {"body": 42}}),
            "entry[0].changes[0].value.messages[0].text.body",
            id="whatsapp-body-not-a-string",
        ),
        pytest.param(
            json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [{"changes": [{"value": {}}]}],
                }
            ).encode(),
            "entry[0].changes[0].field",
            id="whatsapp-change-field-missing",
        ),
        pytest.param(
            messaging_body(event(message={"text": "no mid"})),
            "entry[0].messaging[0].message.mid",
            id="messenger-mid-missing",
        ),
        pytest.param(
            messaging_body(
                event(message={"mid": "m_1", "text": "ok"}),
                event(message={"mid": "m_2", "text": "who?"})
                | {"sender": {"user_ref": "u"}},
            ),
            "entry[0].messaging[1].sender.id",
            id="messenger-sender-id-missing",
        ),
        pytest.param(
            messaging_body(
                {"recipient": {"id": PAGE}, "postback": {"mid": "m_1"}}, obj="instagram"
            ),
            "entry[0].messaging[0].sender.id",
            id="instagram-sender-missing",
        ),
    ],
)
def test_parse_rejects_malformed_payloads(body: bytes, field: str) -> None:
    assert failed_field(body) == field


def failed_field(body: bytes) -> str:
    """The one refusal: the whole body (raised) or one message (in `rejected`)."""
    try:
        parsed = meta.parse(body, {})
    except PayloadInvalid as error:
        return error.field
    [rejected] = parsed.rejected
    return rejected.field


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        body=body,
        headers=headers,
        url="https://omniroute.test/webhooks/meta",
        received_at=datetime(2025, 2, 12, tzinfo=UTC),
    )


def signed(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}"}


# RFC 4231 test case 2 pins the HMAC-SHA256 itself, independent of our helpers.
RFC4231_BODY = b"what do ya want for nothing?"
RFC4231_HEADER = (
    "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
)


@pytest.mark.parametrize(
    ("body", "headers", "secret"),
    [
        pytest.param(
            RFC4231_BODY, {"x-hub-signature-256": RFC4231_HEADER}, "Jefe", id="rfc4231"
        ),
        pytest.param(
            sample("whatsapp_text"),
            signed(sample("whatsapp_text"), "app-secret"),
            "app-secret",
            id="sample-body",
        ),
    ],
)
def test_verify_accepts_valid_signature(
    body: bytes, headers: dict[str, str], secret: str
) -> None:
    meta.verify(request(body, headers), secret)


@pytest.mark.parametrize(
    ("body", "headers", "secret"),
    [
        pytest.param(
            RFC4231_BODY + b" ",
            {"x-hub-signature-256": RFC4231_HEADER},
            "Jefe",
            id="tampered-body",
        ),
        pytest.param(
            RFC4231_BODY,
            {"x-hub-signature-256": RFC4231_HEADER},
            "jefe",
            id="wrong-secret",
        ),
        pytest.param(RFC4231_BODY, {}, "Jefe", id="missing-header"),
        pytest.param(
            RFC4231_BODY, {"x-hub-signature-256": ""}, "Jefe", id="empty-header"
        ),
        pytest.param(
            RFC4231_BODY,
            {"x-hub-signature-256": RFC4231_HEADER.replace("sha256=", "sha1=")},
            "Jefe",
            id="wrong-prefix",
        ),
        pytest.param(
            RFC4231_BODY,
            {"x-hub-signature": RFC4231_HEADER},
            "Jefe",
            id="legacy-sha1-header-only",
        ),
    ],
)
def test_verify_rejects_bad_signature(
    body: bytes, headers: dict[str, str], secret: str
) -> None:
    with pytest.raises(SignatureInvalid):
        meta.verify(request(body, headers), secret)


HANDSHAKE = {
    "hub.mode": "subscribe",
    "hub.verify_token": "s3cret",
    "hub.challenge": "1158201444",
}


@pytest.mark.parametrize(
    ("params", "token", "expected"),
    [
        pytest.param(HANDSHAKE, "s3cret", "1158201444", id="match"),
        pytest.param(HANDSHAKE, "other", None, id="wrong-token"),
        pytest.param(
            HANDSHAKE | {"hub.mode": "unsubscribe"}, "s3cret", None, id="wrong-mode"
        ),
        pytest.param(
            {"hub.verify_token": "s3cret", "hub.challenge": "1"},
            "s3cret",
            None,
            id="no-mode",
        ),
        pytest.param(
            {"hub.mode": "subscribe", "hub.challenge": "1"},
            "s3cret",
            None,
            id="no-token",
        ),
        pytest.param(
            HANDSHAKE | {"hub.verify_token": ""}, "", None, id="empty-configured-token"
        ),
        pytest.param(
            {"hub.mode": "subscribe", "hub.verify_token": "s3cret"},
            "s3cret",
            None,
            id="no-challenge",
        ),
        pytest.param(
            HANDSHAKE | {"hub.verify_token": "s3crét"},
            "s3crét",
            "1158201444",
            id="non-ascii-token",
        ),
    ],
)
def test_verify_handshake(
    params: dict[str, str], token: str, expected: str | None
) -> None:
    assert meta.verify_handshake(params, token) == expected


# --- one bad message in a batch never blocks the others -------------------------

WA_PATH = "entry[0].changes[0].value.messages"


def wa_text(wamid: str, body: str = "hi") -> dict[str, object]:
    return {**GOOD, "id": wamid, "text": {"body": body}}


def ids(parsed: Parsed) -> list[str]:
    return [m.provider_message_id for m in parsed.messages]


@pytest.mark.parametrize(
    ("middle", "stored", "rejected"),
    [
        pytest.param(
            wa_text("wamid.B", "a\x00b"), ["wamid.A", "wamid.B", "wamid.C"], (), id="nul-in-text-sanitized"
        ),
        pytest.param(
            wa_text("wamid.B", "\ud83d"), ["wamid.A", "wamid.B", "wamid.C"], (), id="lone-surrogate-sanitized"
        ),
        pytest.param(
            wa_text("wamid.\x00B"), ["wamid.A", "wamid.B", "wamid.C"], (), id="nul-in-id-removed"
        ),
        pytest.param(
            wa_text("wamid." + "B" * 2000),
            ["wamid.A", "wamid.C"],
            (Rejected(index=1, field=f"{WA_PATH}[1].id", reason="too long"),),
            id="oversized-id-rejected-alone",
        ),
        pytest.param(
            {"from": "16505551234", "type": "text"},
            ["wamid.A", "wamid.C"],
            (Rejected(index=1, field=f"{WA_PATH}[1].id", reason="Field required"),),
            id="missing-id-rejected-alone",
        ),
        pytest.param(
            "not an object",
            ["wamid.A", "wamid.C"],
            (Rejected(index=1, field=f"{WA_PATH}[1]", reason="Input should be a valid dictionary or instance of WaMessage"),),
            id="not-an-object-rejected-alone",
        ),
        pytest.param(
            {**GOOD, "id": "wamid.B", "from": "1" * 2000},
            ["wamid.A", "wamid.C"],
            (Rejected(index=1, field=f"{WA_PATH}[1].from", reason="too long"),),
            id="oversized-sender-rejected-alone",
        ),
    ],
)  # fmt: skip
def test_whatsapp_batch_keeps_the_good_messages(
    middle: object, stored: list[str], rejected: tuple[Rejected, ...]
) -> None:
    body = whatsapp_body(
        {
            "metadata": METADATA,
            "messages": [wa_text("wamid.A"), middle, wa_text("wamid.C")],
        }
    )

    parsed = meta.parse(body, {})

    assert ids(parsed) == stored
    assert parsed.rejected == rejected
    assert all("\x00" not in m.text and "\ud83d" not in m.text for m in parsed.messages)


def test_messaging_batch_keeps_the_good_events_across_entries() -> None:
    good = [event(message={"mid": f"m_{n}", "text": str(n)}) for n in range(3)]
    bad = event(message={"mid": "m_bad"}) | {"sender": {"id": "9" * 2000}}
    entries = [
        {"id": PAGE, "messaging": [good[0], bad]},
        {"id": PAGE, "messaging": [{"delivery": {}}, good[1], good[2]]},
    ]
    body = json.dumps({"object": "page", "entry": entries}).encode()

    parsed = meta.parse(body, {})

    assert ids(parsed) == ["m_0", "m_1", "m_2"]
    assert parsed.rejected == (
        Rejected(index=1, field="entry[0].messaging[1].sender.id", reason="too long"),
    )


def test_a_malformed_contact_only_loses_its_name() -> None:
    value = {
        "metadata": METADATA,
        "contacts": ["junk", {"wa_id": 5}, SHEENA_CONTACT],
        "messages": [wa_text("wamid.A")],
    }
    [message] = meta.parse(whatsapp_body(value), {}).messages
    assert message.sender == SHEENA


def test_every_message_rejected_is_still_a_parsed_result() -> None:
    parsed = meta.parse(wa_messages({"type": "text"}, {"type": "text"}), {})

    assert parsed.messages == ()
    assert [r.index for r in parsed.rejected] == [0, 1]


@pytest.mark.parametrize(
    ("count", "is_accepted"),
    [
        pytest.param(meta.MAX_MESSAGES, True, id="at-limit"),
        pytest.param(meta.MAX_MESSAGES + 1, False, id="over-limit"),
    ],
)
def test_messages_per_post_are_bounded(count: int, is_accepted: bool) -> None:
    body = wa_messages(*(wa_text(f"wamid.{n}") for n in range(count)))
    if is_accepted:
        assert len(meta.parse(body, {}).messages) == count
    else:
        with pytest.raises(PayloadInvalid, match="more than 1000 messages"):
            meta.parse(body, {})


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 33 + b"]" * 33, id="arrays-33"),
        pytest.param(
            whatsapp_body({"messages": [{"interactive": json.loads("[" * 40 + "]" * 40)}]}),
            id="deep-inside-a-valid-envelope",
        ),
        pytest.param(b'{"object": "page", "entry": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", id="deep-200k"),
    ],
)  # fmt: skip
def test_deep_json_is_refused_as_a_body(body: bytes) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        meta.parse(body, {})
    assert caught.value.field == "body"
