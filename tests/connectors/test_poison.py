"""Hostile payloads through every connector: each is cleaned, bounded or refused cleanly.

Each row is a real-shaped webhook with one field poisoned: a NUL, a lone surrogate, a
value longer than its column or index allows, or a timestamp at the edge of datetime.
What comes out must be storable (tests/connectors/storable.py) or a PayloadInvalid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from connectors import chat, mailgun, meta, mime, twilio
from connectors.model import Attachment, InboundMessage, Parsed, PayloadInvalid
from tests.connectors.storable import problems

DATA = Path(__file__).parent.parent / "data"
Request = tuple[str, bytes, Mapping[str, str]]  # connector, body, headers
PARSERS = {
    "twilio": twilio.parse,
    "meta": meta.parse,
    "chat": chat.parse,
    "mime": mime.parse,
    "mailgun": mailgun.parse,
}
LONG = "9" * 1100  # over the 1024-byte key bound
MMS_SID = "MM" + "0" * 31 + "1"


def tw(**changes: str) -> Request:
    form = dict(parse_qsl((DATA / "twilio" / "sms.form").read_text()))
    return "twilio", urlencode(form | changes).encode(), {}


def wa(message: Mapping[str, object], contact_name: str = "Sheena") -> Request:
    base = {"from": "16505551234", "id": "wamid.X", "timestamp": "1739321024"}
    value = {
        "metadata": {"display_phone_number": "15550783881"},
        "contacts": [{"profile": {"name": contact_name}, "wa_id": "16505551234"}],
        "messages": [{**base, "type": "text", "text": {"body": "hi"}, **message}],
    }
    change = {"field": "messages", "value": value}
    document = {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}
    return "meta", json.dumps(document).encode(), {}


def ms(**event: object) -> Request:
    base = {
        "sender": {"id": "6745348372145920"},
        "recipient": {"id": "107712345678901"},
        "timestamp": 1458692752478,
        "message": {"mid": "m_1", "text": "hi"},
    }
    document = {"object": "page", "entry": [{"messaging": [base | event]}]}
    return "meta", json.dumps(document).encode(), {}


def ch(**changes: object) -> Request:
    document = {
        "message_id": "cm_1",
        "visitor": {"id": "vis_1", "verified": False},
        "text": "hi",
    }
    return "chat", json.dumps(document | changes).encode(), {}


def eml(body: bytes = b"hello\r\n", **headers: bytes) -> Request:
    fields = {
        "From": b"Ann <ann@example.org>",
        "To": b"support@example.com",
        "Subject": b"Hi",
        "Message-ID": b"<m1@example.org>",
        "Date": b"Tue, 04 Mar 2025 10:00:00 +0000",
    }
    fields |= {name.replace("_", "-"): value for name, value in headers.items()}
    head = b"".join(
        name.encode() + b": " + value + b"\r\n" for name, value in fields.items()
    )
    return "mime", head + b"\r\n" + body, {"content-type": "message/rfc822"}


def eml_attachment(disposition: bytes, content_type: bytes = b"text/plain") -> Request:
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: " + content_type + b"\r\n"
        b"Content-Disposition: " + disposition + b"\r\n\r\nfile\r\n--b--\r\n"
    )
    return eml(body, Content_Type=b'multipart/mixed; boundary="b"')


def mg(**fields: str) -> Request:
    form = {"Message-Id": "<m1@example.org>", "from": "Ann <ann@example.org>"}
    form |= {name.replace("_", "-"): value for name, value in fields.items()}
    return (
        "mailgun",
        urlencode(form).encode(),
        {"content-type": "application/x-www-form-urlencoded"},
    )


def outcome(request: Request) -> InboundMessage | PayloadInvalid:
    """The one message, or the one refusal (raised for the body, or in `rejected`)."""
    connector, body, headers = request
    try:
        parsed = PARSERS[connector](body, headers)
    except PayloadInvalid as error:
        return error
    assert isinstance(parsed, Parsed)
    if parsed.rejected:
        [rejected] = parsed.rejected
        assert parsed.messages == ()
        return PayloadInvalid(rejected.field, rejected.reason)
    [message] = parsed.messages
    return message


def attribute(message: InboundMessage, path: str) -> object:
    value: object = message
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)  # type: ignore[index]
    return value


YEAR_9999 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("request_", "path", "expected"),
    [
        # Twilio: form values are UTF-8, so a NUL (%00) but never a lone surrogate.
        pytest.param(tw(Body="a\x00b"), "text", "ab", id="twilio-body-nul"),
        pytest.param(tw(From="+1415555\x000100"), "sender.value", "+14155550100", id="twilio-from-nul"),
        pytest.param(tw(ProfileName="Ana\x00"), "sender.name", "Ana", id="twilio-profile-name-nul"),
        pytest.param(tw(ProfileName="A" * 5000), "sender.name", "A" * 256, id="twilio-profile-name-long"),
        pytest.param(tw(To="+1415\x005551212"), "recipient", "+14155551212", id="twilio-to-nul"),
        pytest.param(
            tw(MessageSid=MMS_SID, SmsMessageSid=MMS_SID, SmsSid=MMS_SID, NumMedia="1",
               MediaUrl0="https://api.twilio.com/x/\x00ME1", MediaContentType0="image/\x00" + "j" * 300),
            "attachments",
            (Attachment(url="https://api.twilio.com/x/ME1", provider_media_id="ME1",
                        content_type=("image/" + "j" * 300)[:255]),),
            id="twilio-media-nul-and-long-type",
        ),
        # Meta WhatsApp: JSON escapes carry both NUL and lone surrogates.
        pytest.param(wa({"text": {"body": "a\x00b"}}), "text", "ab", id="wa-text-nul"),
        pytest.param(wa({"text": {"body": "cut \ud83d"}}), "text", "cut \ufffd", id="wa-text-lone-surrogate"),
        pytest.param(wa({"id": "wamid.\x00X"}), "provider_message_id", "wamid.X", id="wa-id-nul"),
        pytest.param(wa({}, contact_name="Sh\x00eena\udc00"), "sender.name", "Sheena\ufffd", id="wa-contact-name"),
        pytest.param(wa({"type": "t" * 100}), "content_type", "t" * 32, id="wa-type-long"),
        pytest.param(wa({"type": "x\x00"}), "content_type", "x", id="wa-type-nul"),
        pytest.param(
            wa({"type": "document", "document": {"id": "M\x00", "mime_type": "a/" + "b" * 400, "filename": "r\x00.pdf"}}),
            "attachments",
            (Attachment(provider_media_id="M", content_type=("a/" + "b" * 400)[:255], filename="r.pdf"),),
            id="wa-document-fields",
        ),
        pytest.param(wa({"timestamp": "-62135596800"}), "sent_at", None, id="wa-year-1"),
        pytest.param(wa({"timestamp": "253402300799"}), "sent_at", YEAR_9999, id="wa-year-9999-kept-app-falls-back"),
        pytest.param(wa({"timestamp": "253402300800"}), "sent_at", None, id="wa-year-10000"),
        pytest.param(wa({"timestamp": "9" * 5000}), "sent_at", None, id="wa-timestamp-5000-digits"),
        # Messenger / Instagram
        pytest.param(ms(message={"mid": "m_\x001", "text": "a\x00"}), "provider_message_id", "m_1", id="messenger-mid-nul"),
        pytest.param(ms(message={"mid": "m_1", "text": "\udbff!"}), "text", "\ufffd!", id="messenger-text-surrogate"),
        pytest.param(ms(recipient={"id": "1077\x00"}), "recipient", "1077", id="messenger-recipient-nul"),
        pytest.param(
            ms(message={"mid": "m_1", "attachments": [{"type": "image\x00", "payload": {"url": "https://x/\x00a"}}]}),
            "attachments",
            (Attachment(url="https://x/a"),),
            id="messenger-attachment-url-nul",
        ),
        pytest.param(ms(timestamp=-62135596800000), "sent_at", None, id="messenger-year-1"),
        # Chat widget
        pytest.param(ch(message_id="cm_\x001"), "provider_message_id", "cm_1", id="chat-id-nul"),
        pytest.param(ch(text="hi \ud83d"), "text", "hi \ufffd", id="chat-text-lone-surrogate"),
        pytest.param(ch(visitor={"id": "v\x00", "name": "N\x00\udfff", "verified": False}), "sender.value", "v", id="chat-visitor-id-nul"),
        pytest.param(ch(visitor={"id": "v", "name": "N\x00\udfff", "verified": False}), "sender.name", "N\ufffd", id="chat-visitor-name"),
        pytest.param(ch(visitor={"id": "v", "email": "a\x00@x.org", "verified": True}), "linked_identities.0.value", "a@x.org", id="chat-email-nul"),
        pytest.param(ch(locale="pt-BR" + "-x" * 40), "locale", ("pt-BR" + "-x" * 40)[:35], id="chat-locale-long"),
        pytest.param(ch(locale="\x00de"), "locale", "de", id="chat-locale-nul"),
        pytest.param(ch(sent_at="0001-01-01T00:00:00+14:00"), "sent_at", None, id="chat-year-1-plus-14"),
        pytest.param(ch(sent_at="9999-12-31T23:59:59-14:00"), "sent_at", None, id="chat-year-9999-minus-14"),
        pytest.param(ch(sent_at="1969-12-31T23:59:59Z"), "sent_at", None, id="chat-before-epoch"),
        pytest.param(
            ch(attachments=[{"url": "https://x/\x00a", "filename": "a\x00.png", "content_type": "image/png\x00", "size": 2**64}]),
            "attachments",
            (Attachment(url="https://x/a", filename="a.png", content_type="image/png"),),
            id="chat-attachment-fields-and-huge-size",
        ),
        # MIME: raw bytes, so also 8-bit garbage that decodes to lone surrogates.
        pytest.param(eml(Subject=b"Hi \xff\x00there"), "subject", "Hi \ufffdthere", id="mime-subject-8bit-and-nul"),
        pytest.param(eml(From=b"Ann\x00 <ann@example.org>"), "sender.name", "Ann", id="mime-from-name-nul"),
        pytest.param(eml(b"body \x00 \xff\r\n"), "text", "body  \ufffd", id="mime-body-nul-and-8bit"),
        pytest.param(eml(Message_ID=b"<m\x001@example.org>"), "provider_message_id", "m1@example.org", id="mime-message-id-nul"),
        pytest.param(eml(To=b"sup\x00port@example.com"), "recipient", "support@example.com", id="mime-to-nul"),
        pytest.param(eml(References=b"<" + LONG.encode() + b"@x> <ok@x>"), "email.references", ("ok@x",), id="mime-long-reference-dropped"),
        pytest.param(eml(Date=b"Fri, 31 Dec 9999 23:59:59 -1400"), "sent_at", None, id="mime-year-9999-minus-14"),
        pytest.param(eml(Subject=b"S" * 5000), "subject", "S" * 2000, id="mime-subject-long"),
        pytest.param(
            eml_attachment(b'attachment; filename="a\x00.txt"', b"text/\x00plain"),
            "attachments.0.filename",
            "a.txt",
            id="mime-attachment-filename-nul",
        ),
        # Mailgun: urlencoded, UTF-8.
        pytest.param(mg(subject="Hi\x00"), "subject", "Hi", id="mailgun-subject-nul"),
        pytest.param(mg(body_plain="a\x00b"), "text", "ab", id="mailgun-body-nul"),
        pytest.param(mg(**{"from": "A\x00nn <ann@example.org>"}), "sender.name", "Ann", id="mailgun-from-name-nul"),
        pytest.param(mg(recipient="us\x00@example.com"), "recipient", "us@example.com", id="mailgun-recipient-nul"),
        pytest.param(mg(Date="Fri, 31 Dec 9999 23:59:59 -1400"), "sent_at", None, id="mailgun-year-9999-minus-14"),
        # email.utils reads years below 100 as 19xx/20xx (RFC 5322 §4.3 obsolete years).
        pytest.param(mg(Date="Mon, 01 Jan 0001 00:00:00 +1400"), "sent_at", datetime(2000, 12, 31, 10, tzinfo=UTC), id="mailgun-year-1-plus-14"),
    ],
)  # fmt: skip
def test_poison_is_cleaned(request_: Request, path: str, expected: object) -> None:
    message = outcome(request_)

    assert isinstance(message, InboundMessage), message
    assert attribute(message, path) == expected
    assert problems(message) == []


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        pytest.param(tw(MessageSid="SM\x00" + "0" * 32), "MessageSid", "is not a Message SID (SM or MM + 32 hex)", id="twilio-sid-nul"),
        pytest.param(tw(From="+1" + LONG), "sender.value", "too long", id="twilio-from-long"),
        pytest.param(wa({"id": "wamid." + LONG}), "entry[0].changes[0].value.messages[0].id", "too long", id="wa-id-long"),
        pytest.param(wa({"from": LONG}), "entry[0].changes[0].value.messages[0].from", "too long", id="wa-from-long"),
        pytest.param(wa({"id": "\x00"}), "entry[0].changes[0].value.messages[0].id", "is empty", id="wa-id-only-nul"),
        pytest.param(ms(message={"mid": "m_" + LONG}), "entry[0].messaging[0].message.mid", "too long", id="messenger-mid-long"),
        pytest.param(ms(sender={"id": LONG}), "entry[0].messaging[0].sender.id", "too long", id="messenger-sender-long"),
        pytest.param(
            ms(message={"mid": "m_1", "attachments": [{"type": "image"}] * 101}),
            "entry[0].messaging[0].message.attachments",
            "List should have at most 100 items after validation, not 101",
            id="messenger-101-attachments",
        ),
        pytest.param(ch(message_id=LONG), "provider_message_id", "too long", id="chat-id-long"),
        pytest.param(ch(visitor={"id": LONG, "verified": False}), "sender.value", "too long", id="chat-visitor-long"),
        pytest.param(ch(visitor={"id": "v", "phone": LONG, "verified": True}), "linked_identities[0].value", "too long", id="chat-phone-long"),
        pytest.param(
            ch(attachments=[{"url": "https://x/a"}] * 101),
            "attachments",
            "Tuple should have at most 100 items after validation, not 101",
            id="chat-101-attachments",
        ),
        pytest.param(eml(Message_ID=b"<" + LONG.encode() + b"@x>"), "provider_message_id", "too long", id="mime-message-id-long"),
        pytest.param(eml(From=b"<" + LONG.encode() + b"@x.org>"), "sender.value", "too long", id="mime-from-long"),
        pytest.param(mg(Message_Id="<" + LONG + "@x>"), "provider_message_id", "too long", id="mailgun-message-id-long"),
    ],
)  # fmt: skip
def test_poison_is_refused(request_: Request, field: str, reason: str) -> None:
    refusal = outcome(request_)

    assert isinstance(refusal, PayloadInvalid), refusal
    assert (refusal.field, refusal.reason) == (field, reason)


# Found by test_fuzz.py inside the MIME-parsing internals (connectors/email_text.py,
# mime.py, mailgun.py) before the compat32 rewrite; kept as regressions.
MAILGUN_NUL_CHARSET = (
    b'--XyZ\r\nContent-Disposition: form-data; name="Message-Id"\r\n\r\n<m1@x>\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="from"\r\n\r\nann@example.org\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="body-plain"\r\n'
    b'Content-Type: text/plain; charset="utf\x00-8"\r\n\r\nhi\r\n--XyZ--\r\n'
)


@pytest.mark.parametrize(
    "request_",
    [
        # email.message.get_body() iterates a boundary-less multipart's str payload
        # (the CPython bug of python/cpython#87058, still there for nested parts).
        pytest.param(
            eml(
                b"--b\r\nContent-Type: multipart/related\r\n\r\nx\r\n--b--\r\n",
                Content_Type=b'multipart/mixed; boundary="b"',
            ),
            id="mime-nested-multipart-without-boundary-attributeerror",
        ),
        # part_text: bytes.decode("utf\x00-8") raises ValueError, not LookupError.
        pytest.param(
            eml(b"hello\r\n", Content_Type=b'text/plain; charset="utf\x00-8"'),
            id="mime-nul-in-charset-valueerror",
        ),
        pytest.param(
            ("mailgun", MAILGUN_NUL_CHARSET, {"content-type": "multipart/form-data; boundary=XyZ"}),
            id="mailgun-nul-in-field-charset-valueerror",
        ),
    ],
)  # fmt: skip
def test_mime_internals_found_by_the_fuzzer_end_cleanly(request_: Request) -> None:
    result = outcome(request_)
    assert isinstance(result, PayloadInvalid) or problems(result) == []
