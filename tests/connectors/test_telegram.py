"""Telegram connector: the secret-token header, Update mapping, contacts, edits, poison."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import telegram
from connectors.model import (
    Attachment,
    Channel,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from devtools.payloads import telegram_message
from tests.connectors.storable import parsed_problems, problems

DATA = Path(__file__).parent.parent / "data" / "telegram"
AT = datetime(2025, 2, 12, 1, 0, tzinfo=UTC)
URL = "https://omniroute.example.com/webhooks/telegram"
SECRET = "tg-Secret_token-0123456789"
LONG = "9" * 1100  # over sanitize's 1024-byte key bound
ANA = {"id": 123456789, "is_bot": False, "first_name": "Ana", "last_name": "Lima"}
TEST_USER = IdentityClaim(
    kind=IdentityKind.telegram, value="1111111", name="Test Firstname Test Lastname"
)
ANA_CLAIM = IdentityClaim(
    kind=IdentityKind.telegram, value="123456789", name="Ana Lima"
)
GUIDE_DATE = datetime(2015, 9, 7, 17, 5, 32, tzinfo=UTC)  # 1441645532


def sample(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def update(kind: str = "message", **message: object) -> bytes:
    """A private-chat update from Ana, with `message` fields added or replaced."""
    base: dict[str, object] = {
        "message_id": 7,
        "from": ANA,
        "chat": {"id": 123456789, "type": "private"},
        "date": 1739321024,
        "text": "hi",
    }
    fields = {key.removesuffix("_"): value for key, value in message.items()}
    return json.dumps({"update_id": 1, kind: base | fields}).encode()


def one(body: bytes) -> InboundMessage:
    parsed = telegram.parse(body, {"content-type": "application/json"})
    assert parsed.rejected == ()
    [message] = parsed.messages
    assert problems(message) == []
    return message


def request(headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(body=sample("text"), headers=headers, url=URL, received_at=AT)


# --- verify ------------------------------------------------------------------


def test_verify_accepts_the_secret_token() -> None:
    telegram.verify(request({telegram.SECRET_HEADER: SECRET}), SECRET)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({}, "is missing", id="missing"),
        pytest.param({telegram.SECRET_HEADER: ""}, "is missing", id="empty"),
        pytest.param({telegram.SECRET_HEADER: "other"}, "does not match", id="wrong"),
        pytest.param(
            {telegram.SECRET_HEADER: SECRET.upper()}, "does not match", id="case"
        ),
        pytest.param(
            {telegram.SECRET_HEADER: SECRET[:-1]}, "does not match", id="prefix"
        ),
        pytest.param(
            {telegram.SECRET_HEADER: SECRET + " "},
            "does not match",
            id="trailing-space",
        ),
        pytest.param(
            {"x-telegram-bot-api-secret": SECRET}, "is missing", id="other-header"
        ),
    ],
)
def test_verify_rejects(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureInvalid, match=reason) as caught:
        telegram.verify(request(headers), SECRET)

    assert SECRET not in caught.value.reason


# Starlette decodes header bytes as latin-1: anything in U+0000..U+00FF can arrive,
# and compare_digest raises TypeError on non-ASCII str. Bytes compare cleanly.
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("s\u00e9cret", id="latin-1-letter"),
        pytest.param("\xe9\xff\xfe\x80", id="latin-1-bytes"),
        pytest.param(SECRET + "\u00a0", id="trailing-nbsp"),
        pytest.param("\x00" + SECRET[1:], id="nul"),
        pytest.param("\udcff\ud800", id="lone-surrogates"),
        pytest.param("\U0001f600", id="emoji"),
    ],
)
def test_non_ascii_header_is_signature_invalid(value: str) -> None:
    with pytest.raises(SignatureInvalid, match="does not match"):
        telegram.verify(request({telegram.SECRET_HEADER: value}), SECRET)


def test_non_ascii_secret_compares_as_bytes() -> None:
    secret = "s\u00e9cret"

    telegram.verify(request({telegram.SECRET_HEADER: secret}), secret)
    with pytest.raises(SignatureInvalid):
        telegram.verify(request({telegram.SECRET_HEADER: "s\u00e8cret"}), secret)


# --- parse: samples ------------------------------------------------------------


def guide(**changes: object) -> InboundMessage:
    """The message of Telegram's guide samples (1111111's message 1365)."""
    fields: dict[str, object] = {
        "provider": "telegram",
        "provider_message_id": "1111111:1365",
        "channel": Channel.telegram,
        "sender": TEST_USER,
        "text": "/start",
        "sent_at": GUIDE_DATE,
    }
    return InboundMessage(**(fields | changes))  # type: ignore[arg-type]


def ana(message_id: int, date: int, **changes: object) -> InboundMessage:
    fields: dict[str, object] = {
        "provider": "telegram",
        "provider_message_id": f"123456789:{message_id}",
        "channel": Channel.telegram,
        "sender": ANA_CLAIM,
        "text": "",
        "sent_at": datetime.fromtimestamp(date, UTC),
        "locale": "pt-BR",
    }
    return InboundMessage(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("text", guide(), id="text"),
        pytest.param("reply", guide(), id="reply-to-message-not-stored"),
        pytest.param(
            "edited_message",
            guide(
                text="Edited text",
                edited_at=datetime(2015, 9, 7, 17, 23, 20, tzinfo=UTC),
            ),
            id="edited-message",
        ),
        pytest.param(
            "voice",
            guide(
                text="",
                content_type="voice",
                attachments=(
                    Attachment(
                        provider_media_id="AwADBAADbXXXXXXXXXXXGBdhD2l6_XX",
                        content_type="audio/ogg",
                        size=23000,
                    ),
                ),
            ),
            id="voice",
        ),
        pytest.param(
            "document",
            guide(
                text="",
                content_type="document",
                attachments=(
                    Attachment(
                        provider_media_id="AwADBAADbXXXXXXXXXXXGBdhD2l6_XX",
                        content_type="application/pdf",
                        filename="Testfile.pdf",
                        size=536392,
                    ),
                ),
            ),
            id="document",
        ),
        pytest.param(
            "photo",
            ana(
                42,
                1739321024,
                text="The parcel arrived like this",
                content_type="photo",
                attachments=(
                    Attachment(
                        provider_media_id="AgACAgQAAxkBAAMqZ6yQ-large", size=98345
                    ),
                ),
            ),
            id="photo-largest-size-with-caption",
        ),
        pytest.param(
            "video",
            ana(
                43,
                1739321090,
                content_type="video",
                attachments=(
                    Attachment(
                        provider_media_id="BAACAgQAAxkBAAMrZ6yRvideo",
                        content_type="video/mp4",
                        filename="unboxing.mp4",
                        size=2345678,
                    ),
                ),
            ),
            id="video-not-its-thumbnail",
        ),
        pytest.param(
            "location",
            ana(
                44, 1739321150, text="geo:52.520008,13.404954", content_type="location"
            ),
            id="location",
        ),
        pytest.param(
            "contact_own",
            ana(
                45,
                1739321200,
                text="Ana Lima 14155550100",
                content_type="contact",
                linked_identities=(
                    IdentityClaim(
                        kind=IdentityKind.phone, value="+14155550100", name="Ana Lima"
                    ),
                ),
            ),
            id="own-contact-is-verified",
        ),
        pytest.param(
            "contact_other",
            ana(
                47,
                1739321260,
                text="Bruno Costa +44 7700 900123",
                content_type="contact",
                linked_identities=(
                    IdentityClaim(
                        kind=IdentityKind.phone,
                        value="+44 7700 900123",
                        name="Bruno Costa",
                        verified=False,
                    ),
                ),
            ),
            id="someone-elses-contact-is-a-claim",
        ),
        pytest.param(
            "group_text",
            ana(
                1365,
                1739321300,
                provider_message_id="-1001234567890:1365",
                text="Same message id as in our private chat, different chat",
            ),
            id="group-message-keyed-by-chat",
        ),
    ],
)
def test_parse_sample(name: str, expected: InboundMessage) -> None:
    assert one(sample(name)) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(sample("callback_query"), id="callback-query"),
        pytest.param(b'{"update_id": 5}', id="update-id-only"),
        pytest.param(
            json.dumps(
                {
                    "update_id": 6,
                    "channel_post": {
                        "message_id": 1,
                        "chat": {"id": -100, "type": "channel"},
                        "date": 1,
                        "text": "news",
                    },
                }
            ).encode(),
            id="channel-post",
        ),
        pytest.param(b'{"update_id": 7, "message": null}', id="null-message"),
        pytest.param(
            b'{"update_id": 8, "my_chat_member": {"chat": {"id": 1}}}',
            id="membership-change",
        ),
    ],
)
def test_updates_without_a_message_store_nothing(body: bytes) -> None:
    assert telegram.parse(body, {}) == Parsed()


def test_every_sample_is_storable() -> None:
    for path in sorted(DATA.glob("*.json")):
        assert parsed_problems(telegram.parse(path.read_bytes(), {})) == [], path.name


# --- parse: field mapping --------------------------------------------------------


def test_message_ids_are_unique_only_within_a_chat() -> None:
    private = one(update(message_id=9, chat={"id": 123456789}))
    group = one(update(message_id=9, chat={"id": -1001234567890}))

    assert private.provider_message_id == "123456789:9"
    assert group.provider_message_id == "-1001234567890:9"


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        pytest.param(ANA, "Ana Lima", id="first-and-last"),
        pytest.param({"id": 1, "first_name": "Ana"}, "Ana", id="first-only"),
        pytest.param(
            {"id": 1, "first_name": "", "username": "analima"},
            "analima",
            id="username-when-no-name",
        ),
        pytest.param({"id": 1, "first_name": ""}, None, id="nothing"),
        pytest.param({"id": 1}, None, id="first-name-missing"),
    ],
)
def test_sender_name(sender: dict[str, object], name: str | None) -> None:
    message = one(update(from_=sender))

    assert message.sender.kind is IdentityKind.telegram
    assert message.sender.value == str(sender["id"])
    assert message.sender.name == name


@pytest.mark.parametrize(
    ("photo", "file_id"),
    [
        pytest.param(
            [
                {"file_id": "big", "width": 800, "height": 600},
                {"file_id": "small", "width": 90, "height": 67},
            ],
            "big",
            id="largest-first",
        ),
        pytest.param(
            [
                {"file_id": "a", "width": 100, "height": 100, "file_size": 10},
                {"file_id": "b", "width": 100, "height": 100, "file_size": 20},
            ],
            "b",
            id="same-area-larger-file",
        ),
        pytest.param(
            [{"file_id": "only", "width": 1, "height": 1}], "only", id="single-size"
        ),
        pytest.param(
            [{"file_id": "a"}, {"file_id": "b", "file_size": 3}],
            "b",
            id="sizes-missing",
        ),
    ],
)
def test_photo_takes_the_largest_size(
    photo: list[dict[str, object]], file_id: str
) -> None:
    [attachment] = one(update(photo=photo, text=None)).attachments

    assert attachment.provider_media_id == file_id
    assert attachment.content_type is None  # PhotoSize has no mime_type


@pytest.mark.parametrize(
    ("contact", "claim"),
    [
        pytest.param(
            {"phone_number": "+14155550100", "first_name": "Ana", "user_id": 123456789},
            IdentityClaim(kind=IdentityKind.phone, value="+14155550100", name="Ana"),
            id="own-with-plus",
        ),
        pytest.param(
            {
                "phone_number": " 14155550100 ",
                "first_name": "Ana",
                "user_id": 123456789,
            },
            IdentityClaim(kind=IdentityKind.phone, value="+14155550100", name="Ana"),
            id="own-without-plus",
        ),
        pytest.param(
            {"phone_number": "4155550100", "first_name": "Bo", "user_id": 42},
            IdentityClaim(
                kind=IdentityKind.phone, value="4155550100", name="Bo", verified=False
            ),
            id="other-user-kept-as-written",
        ),
        pytest.param(
            {"phone_number": "+14155550100", "first_name": "Ana"},
            IdentityClaim(
                kind=IdentityKind.phone,
                value="+14155550100",
                name="Ana",
                verified=False,
            ),
            id="no-user-id-not-a-telegram-user",
        ),
        pytest.param(
            {"phone_number": "+14155550100", "first_name": ""},
            IdentityClaim(
                kind=IdentityKind.phone, value="+14155550100", verified=False
            ),
            id="no-name",
        ),
    ],
)
def test_contact_links_a_phone(
    contact: dict[str, object], claim: IdentityClaim
) -> None:
    message = one(update(contact=contact, text=None))

    assert message.linked_identities == (claim,)
    assert message.content_type == "contact"


def test_contact_of_the_sender_forwarded_by_someone_else_is_a_claim() -> None:
    contact = {"phone_number": "+14155550100", "first_name": "Ana", "user_id": 1}
    [claim] = one(update(contact=contact, text=None)).linked_identities

    assert not claim.verified


@pytest.mark.parametrize(
    ("location", "text"),
    [
        pytest.param(
            {"latitude": 52.5, "longitude": 13.4}, "geo:52.5,13.4", id="floats"
        ),
        pytest.param({"latitude": 0, "longitude": -1}, "geo:0.0,-1.0", id="integers"),
        pytest.param(
            {"latitude": -33.868820, "longitude": 151.209296, "live_period": 60},
            "geo:-33.86882,151.209296",
            id="live-location",
        ),
    ],
)
def test_location_text_is_a_geo_uri(location: dict[str, object], text: str) -> None:
    message = one(update(location=location, text=None))

    assert (message.text, message.content_type) == (text, "location")
    assert message.attachments == ()


def test_caption_is_the_text_of_media() -> None:
    document = {"file_id": "BQAC", "file_name": "a.pdf", "mime_type": "application/pdf"}
    message = one(update(document=document, caption="invoice", text=None))

    assert (message.text, message.content_type) == ("invoice", "document")


def test_message_without_text_or_known_content_is_empty_text() -> None:
    message = one(update(text=None, sticker={"file_id": "CAAC", "emoji": "x"}))

    assert (message.text, message.content_type, message.attachments) == ("", "text", ())


def test_unknown_fields_are_ignored() -> None:
    body = json.loads(update(text="hi", brand_new_field={"x": [1, 2]}))
    body["future_update_kind"] = {"x": 1}

    assert one(json.dumps(body).encode()).text == "hi"


@pytest.mark.parametrize(
    ("date", "sent_at"),
    [
        pytest.param(
            1739321024, datetime(2025, 2, 12, 0, 43, 44, tzinfo=UTC), id="unix"
        ),
        pytest.param(0, datetime(1970, 1, 1, tzinfo=UTC), id="epoch"),
        pytest.param(-1, None, id="before-epoch"),
        pytest.param(253402300800, None, id="year-10000"),
        pytest.param(2**64, None, id="overflow"),
    ],
)
def test_sent_at_from_date(date: int, sent_at: datetime | None) -> None:
    assert one(update(date=date)).sent_at == sent_at


# --- parse: edits ------------------------------------------------------------------


def test_edited_message_is_marked_with_its_edit_date() -> None:
    message = one(update("edited_message", text="fixed typo", edit_date=1739321100))

    assert message.provider_message_id == "123456789:7"
    assert message.text == "fixed typo"
    assert message.sent_at == datetime(2025, 2, 12, 0, 43, 44, tzinfo=UTC)
    assert message.edited_at == datetime(2025, 2, 12, 0, 45, tzinfo=UTC)


def test_new_message_is_not_an_edit_even_with_edit_date() -> None:
    assert one(update(edit_date=1739321100)).edited_at is None


@pytest.mark.parametrize(
    "edit_date",
    [
        pytest.param(None, id="missing"),
        pytest.param(-5, id="before-epoch"),
        pytest.param(2**64, id="overflow"),
    ],
)
def test_edit_without_a_usable_edit_date_is_refused(edit_date: int | None) -> None:
    body = update("edited_message", edit_date=edit_date)

    with pytest.raises(PayloadInvalid) as caught:
        telegram.parse(body, {})

    assert caught.value.field == "edited_message.edit_date"


# --- parse: malformed and hostile ----------------------------------------------------


def _without(field: str) -> bytes:
    body = json.loads(update())
    del body["message"][field]
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b"{\xff}", "body", id="not-utf8"),
        pytest.param(b'{"update_id": ', "body", id="truncated-json"),
        pytest.param(b"", "body", id="empty"),
        pytest.param(b"[]", "body", id="not-an-object"),
        pytest.param(b"[" * 100_000, "body", id="nested-too-deep"),
        pytest.param(
            update(text=json.loads("[" * 33 + "]" * 33)), "body", id="deep-value"
        ),
        pytest.param(b'{"update_id": ' + b"9" * 5000 + b"}", "body", id="5000-digits"),
        pytest.param(b'{"message": {}}', "update_id", id="no-update-id"),
        pytest.param(b'{"update_id": "1"}', "update_id", id="update-id-string"),
        pytest.param(b'{"update_id": true}', "update_id", id="update-id-bool"),
        pytest.param(b'{"update_id": 1, "message": []}', "message", id="message-list"),
        pytest.param(_without("message_id"), "message.message_id", id="no-message-id"),
        pytest.param(_without("chat"), "message.chat", id="no-chat"),
        pytest.param(_without("date"), "message.date", id="no-date"),
        pytest.param(_without("from"), "message.from", id="no-sender"),
        pytest.param(update(message_id="7"), "message.message_id", id="id-string"),
        pytest.param(update(chat={"id": 1.5}), "message.chat.id", id="chat-id-float"),
        pytest.param(update(from_={"first_name": "A"}), "message.from.id", id="no-from-id"),
        pytest.param(update(text=5), "message.text", id="text-number"),
        pytest.param(update(photo={}), "message.photo", id="photo-not-list"),
        pytest.param(update(photo=[{"width": 1}]), "message.photo[0].file_id", id="photo-no-id"),
        pytest.param(update(voice={"file_id": ""}), "message.voice.file_id", id="empty-file-id"),
        pytest.param(
            update(photo=[{"file_id": "x"}] * 101),
            "message.photo",
            id="101-photo-sizes",
        ),
        pytest.param(
            update(location={"latitude": "52.5", "longitude": 13.4}),
            "message.location.latitude",
            id="latitude-string",
        ),
        pytest.param(
            update(contact={"first_name": "A"}),
            "message.contact.phone_number",
            id="contact-no-phone",
        ),
        pytest.param(
            update("edited_message", edit_date="soon"),
            "edited_message.edit_date",
            id="edit-date-string",
        ),
    ],
)  # fmt: skip
def test_parse_rejects_malformed(body: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        telegram.parse(body, {})

    assert caught.value.field == field
    assert caught.value.reason


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        pytest.param(update(text="a\x00b"), "text", "ab", id="text-nul"),
        pytest.param(update(text="cut \ud83d"), "text", "cut \ufffd", id="text-lone-surrogate"),
        pytest.param(update(text="x" * 5000), "text", "x" * 5000, id="text-long-kept"),
        pytest.param(
            update(from_={"id": 1, "first_name": "A\x00na" + "a" * 400}),
            "sender.name",
            ("Ana" + "a" * 400)[:256],
            id="name-nul-and-long",
        ),
        pytest.param(
            update(from_={"id": 1, "first_name": "A", "language_code": "pt\x00-" + "x" * 50}),
            "locale",
            ("pt-" + "x" * 50)[:35],
            id="language-code-nul-and-long",
        ),
        pytest.param(
            update(document={"file_id": "B\x00Q", "file_name": "a\x00.pdf\n", "mime_type": "a/" + "b" * 400, "file_size": -1}),
            "attachments",
            (Attachment(provider_media_id="BQ", filename="a.pdf", content_type=("a/" + "b" * 400)[:255]),),
            id="document-fields",
        ),
        pytest.param(
            update(video={"file_id": "BAAC", "file_size": 2**64}),
            "attachments",
            (Attachment(provider_media_id="BAAC"),),
            id="video-size-beyond-bigint",
        ),
        pytest.param(
            update(contact={"phone_number": "+1415\x005550100", "first_name": "\udc00", "user_id": 123456789}),
            "linked_identities",
            (IdentityClaim(kind=IdentityKind.phone, value="+14155550100", name="\ufffd"),),
            id="contact-nul-and-surrogate",
        ),
        pytest.param(
            update(chat={"id": 10**30}, message_id=2**63),
            "provider_message_id",
            f"{10**30}:{2**63}",
            id="ids-beyond-64-bits-kept-as-text",
        ),
    ],
)  # fmt: skip
def test_poison_is_cleaned(body: bytes, path: str, expected: object) -> None:
    value: object = one(body)
    for part in path.split("."):
        value = getattr(value, part)

    assert value == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(update(chat={"id": int(LONG)}), "message.message_id", id="chat-id-long"),
        pytest.param(update(from_={"id": int(LONG)}), "message.from.id", id="sender-id-long"),
        pytest.param(
            update(contact={"phone_number": LONG, "first_name": "A"}),
            "message.contact.phone_number",
            id="contact-phone-long",
        ),
        pytest.param(
            update(contact={"phone_number": "\x00", "first_name": "A"}),
            "message.contact.phone_number",
            id="contact-phone-only-nul",
        ),
        pytest.param(
            update("edited_message", from_={"id": int(LONG)}, edit_date=1739321100),
            "edited_message.from.id",
            id="edit-sender-id-long",
        ),
    ],
)  # fmt: skip
def test_poison_is_refused(body: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        telegram.parse(body, {})

    assert caught.value.field == field


# --- the devtools builder (demo, tests, benchmarks) speaks the same format -----------


@pytest.mark.parametrize(
    ("options", "check"),
    [
        pytest.param({}, lambda m: m.edited_at is None, id="message"),
        pytest.param(
            {"edit_date": 1739321100},
            lambda m: m.edited_at == datetime(2025, 2, 12, 0, 45, tzinfo=UTC),
            id="edit",
        ),
        pytest.param(
            {"text": None, "contact": {"phone_number": "14155550100", "user_id": 5}},
            lambda m: m.linked_identities[0].value == "+14155550100",
            id="own-contact",
        ),
        pytest.param(
            {"chat_id": -1001234567890, "message_id": 3},
            lambda m: m.provider_message_id == "-1001234567890:3",
            id="group",
        ),
    ],
)
def test_devtools_builder_round_trips(options: dict[str, object], check) -> None:
    fields: dict[str, object] = {"text": "hi", "date": 1739321024} | options
    signed = telegram_message(SECRET, 5, **fields)  # type: ignore[arg-type]
    req = WebhookRequest(
        body=signed.body,
        headers={name.lower(): value for name, value in signed.headers.items()},
        url=URL,
        received_at=AT,
    )

    telegram.verify(req, SECRET)
    assert signed.path == "/webhooks/telegram"
    assert check(one(req.body))
