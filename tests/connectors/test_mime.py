"""MIME relay connector: body signature, RFC 5322 samples, malformed messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors import mime
from connectors.model import (
    Attachment,
    Channel,
    EmailHeaders,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from connectors.signing import sign_body

DATA = Path(__file__).parent.parent / "data" / "mime"
SECRET = "relay-secret"
URL = "https://omniroute.example/webhooks/email/mime"
RECEIVED_AT = datetime(2025, 3, 5, 14, 3, tzinfo=UTC)
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b4944415478da636000020000050001e9fadcd80000000049454e44ae426082"
)
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse_one(body: bytes) -> InboundMessage:
    [message] = mime.parse(body, {"content-type": "message/rfc822"}).messages
    return message


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(body=body, headers=headers, url=URL, received_at=RECEIVED_AT)


def test_verify_accepts_the_relay_signature() -> None:
    body = sample("plain-utf8.eml")
    headers = {"x-omniroute-signature": sign_body(body, SECRET)}
    mime.verify(request(body, headers), SECRET)


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        pytest.param(
            sample("plain-utf8.eml"),
            {"x-omniroute-signature": sign_body(sample("plain-utf8.eml"), "other")},
            "x-omniroute-signature does not match the request body",
            id="wrong-secret",
        ),
        pytest.param(
            sample("plain-utf8.eml").replace(b"hello", b"HELLO"),
            {"x-omniroute-signature": sign_body(sample("plain-utf8.eml"), SECRET)},
            "x-omniroute-signature does not match the request body",
            id="tampered-body",
        ),
        pytest.param(
            sample("plain-utf8.eml"),
            {},
            "x-omniroute-signature header is missing",
            id="no-header",
        ),
    ],
)
def test_verify_rejects(body: bytes, headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        mime.verify(request(body, headers), SECRET)
    assert caught.value.reason == reason
    assert SECRET not in caught.value.reason


def test_parse_plain_utf8() -> None:
    assert parse_one(sample("plain-utf8.eml")) == InboundMessage(
        provider="mime",
        provider_message_id="1234@local.machine.example",
        channel=Channel.email,
        sender=IdentityClaim(
            kind=IdentityKind.email, value="jdoe@machine.example", name="John Doe"
        ),
        text=(
            'This is a message just to say hello.\nSo, "Hello".\n\n'
            "Das Café in Zürich öffnet um 8 Uhr — bis später! 👋"
        ),
        subject="Saying Hello",
        sent_at=datetime(1997, 11, 21, 9, 55, 6, tzinfo=timezone(timedelta(hours=-6))),
        email=EmailHeaders(message_id="1234@local.machine.example"),
        recipient="mary@example.net",
    )


def test_parse_crlf_line_endings() -> None:
    message = parse_one(sample("plain-utf8.eml").replace(b"\n", b"\r\n"))
    assert (message.text, message.full_text, message.subject) == (
        'This is a message just to say hello.\nSo, "Hello".\n\n'
        "Das Café in Zürich öffnet um 8 Uhr — bis später! 👋",
        None,
        "Saying Hello",
    )


def test_parse_quoted_printable_latin1_and_encoded_words() -> None:
    assert parse_one(sample("qp-latin1.eml")) == InboundMessage(
        provider="mime",
        provider_message_id="rfc2047-section8@cs.utk.edu",
        channel=Channel.email,
        sender=IdentityClaim(
            kind=IdentityKind.email, value="moore@cs.utk.edu", name="Keith Moore"
        ),
        text=(
            "Hej Keld,\n\n"
            "kan du sende mig en kopi af fakturaen til Søren Æbelø i København?\n"
            "This sentence is long enough that quoted-printable has to wrap it"
            " with a soft line break.\n\nAndré"
        ),
        subject="If you can read this you understand the example.",
        sent_at=datetime(2025, 3, 3, 10, 15, tzinfo=timezone(timedelta(hours=1))),
        email=EmailHeaders(message_id="rfc2047-section8@cs.utk.edu"),
        recipient="keld@dkuug.dk",
    )


def test_parse_html_only() -> None:
    message = parse_one(sample("html-only.eml"))
    assert (message.text, message.full_text, message.subject, message.sender) == (
        "Hello,\n\n"
        "my order 4471 arrived with a cracked lid."
        " Photos are on [this page](https://example.com/p/4471).\n\n"
        "  * lid: cracked\n  * box: dented\n\n"
        "Could you send a replacement? Danke schön!",
        None,
        "Order #4471 arrived damaged",
        IdentityClaim(
            kind=IdentityKind.email, value="priya@example.com", name="Priya Raman"
        ),
    )


def test_parse_alternative_prefers_plain_and_keeps_attachments() -> None:
    assert parse_one(sample("alternative-attachment.eml")) == InboundMessage(
        provider="mime",
        provider_message_id="invoice-4471.20250305140211@omniroute.example",
        channel=Channel.email,
        sender=IdentityClaim(
            kind=IdentityKind.email,
            value="billing@omniroute.example",
            name="Omniroute Billing",
        ),
        text=(
            "Hello Dana,\n\n"
            "please find invoice 4471 attached, along with the line items as CSV."
        ),
        subject="Your invoice 4471",
        sent_at=datetime(2025, 3, 5, 14, 2, 11, tzinfo=UTC),
        attachments=(
            Attachment(
                filename="invoice-4471.pdf",
                content_type="application/pdf",
                size=142,
                content=PDF,
            ),
            Attachment(
                filename="Übersicht-4471.csv",
                content_type="text/csv",
                size=36,
                content="item,qty,price\nKaffeemühle,1,39.90\n".encode(),
            ),
        ),
        email=EmailHeaders(message_id="invoice-4471.20250305140211@omniroute.example"),
        recipient="dana@example.org",
    )


def test_parse_gmail_reply() -> None:
    assert parse_one(sample("reply-gmail.eml")) == InboundMessage(
        provider="mime",
        provider_message_id="CAM7pq+dX2ZzBvQ1Rq@mail.gmail.com",
        channel=Channel.email,
        sender=IdentityClaim(
            kind=IdentityKind.email,
            value="dana.whitfield@gmail.com",
            name="Dana Whitfield",
        ),
        text="Sounds good, Thursday at 3pm works for me.",
        full_text=(
            "Sounds good, Thursday at 3pm works for me.\n\nThanks,\nDana\n\n"
            "On Tue, Mar 4, 2025 at 9:12\u202fAM Omniroute Support"
            " <support@omniroute.example> wrote:\n\n"
            "> Hi Dana,\n>\n> Could we schedule a call this week?\n>\n"
            "> Best regards,\n> Support\n>"
        ),
        subject="Re: Scheduling a call about ticket 1187",
        sent_at=datetime(2025, 3, 4, 18, 47, 3, tzinfo=timezone(timedelta(hours=1))),
        email=EmailHeaders(
            message_id="CAM7pq+dX2ZzBvQ1Rq@mail.gmail.com",
            in_reply_to=("ticket-1187.1741079520@omniroute.example",),
            references=(
                "ticket-1187.1741075920@omniroute.example",
                "CAM7pq+fK3Lz0Yb9@mail.gmail.com",
                "ticket-1187.1741079520@omniroute.example",
            ),
        ),
        recipient="support@omniroute.example",
    )


# `sha256sum tests/data/mime/no-message-id.eml`
NO_MESSAGE_ID_HASH = "d9f41dd33e545bcef1ef4ab85ce80d3233a4d64137e6ae8c8e3948b2f23edb6b"


def test_parse_without_message_id_uses_body_hash() -> None:
    assert parse_one(sample("no-message-id.eml")) == InboundMessage(
        provider="mime",
        provider_message_id="sha256:" + NO_MESSAGE_ID_HASH,
        channel=Channel.email,
        sender=IdentityClaim(
            kind=IdentityKind.email,
            value="john.q.public@example.com",
            name="Joe Q. Public",
        ),
        text="Hi everyone.",
        sent_at=datetime(2003, 7, 1, 10, 52, 37, tzinfo=timezone(timedelta(hours=2))),
        email=EmailHeaders(),
        recipient="mary@x.test",
    )


def test_body_hash_is_stable_and_content_bound() -> None:
    body = sample("no-message-id.eml")
    assert parse_one(body).provider_message_id == "sha256:" + NO_MESSAGE_ID_HASH
    assert parse_one(body).provider_message_id == "sha256:" + NO_MESSAGE_ID_HASH
    other = parse_one(body.replace(b"Hi everyone.", b"Hi everyone!"))
    assert other.provider_message_id != "sha256:" + NO_MESSAGE_ID_HASH


def test_parse_bad_date_gives_no_sent_at() -> None:
    message = parse_one(sample("bad-date.eml"))
    assert (message.sent_at, message.provider_message_id, message.recipient) == (
        None,
        "testabcd.1234@silly.example",
        "c@a.test",
    )


FORWARDED = b"""\
From: Ann <ann@example.org>
To: support@omniroute.example
Subject: Fwd: Original
Message-ID: <[fwd-1@exchange.example]>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

See the attached message.
--b1
Content-Type: message/rfc822
Content-Disposition: attachment; filename="original.eml"

From: Customer <customer@example.net>
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=
Message-ID: <orig-1@example.net>

Original body.
--b1
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-Disposition: inline; filename="signature-logo.png"

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR42mNgAAIAAAUAAen63NgA
AAAASUVORK5CYII=
--b1
Content-Type: image/png; name="photo.png"
Content-Transfer-Encoding: base64

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR42mNgAAIAAAUAAen63NgA
AAAASUVORK5CYII=
--b1--
"""


def test_parse_forwarded_message_and_named_part_are_attachments() -> None:
    # Headers as they arrived (encoded word kept), canonical CRLF line ends.
    original = (
        b"From: Customer <customer@example.net>\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"Message-ID: <orig-1@example.net>\r\n\r\nOriginal body."
    )
    message = parse_one(FORWARDED)
    assert (message.provider_message_id, message.text, message.attachments) == (
        "[fwd-1@exchange.example]",  # Exchange-style id the stdlib parser chokes on
        "See the attached message.",
        (
            Attachment(
                filename="original.eml",
                content_type="message/rfc822",
                size=len(original),
                content=original,
            ),
            Attachment(
                filename="photo.png", content_type="image/png", size=68, content=PNG_1X1
            ),
        ),
    )


def test_parse_attachment_only_message() -> None:
    body = (
        b"From: scanner@example.org\nMIME-Version: 1.0\n"
        b'Content-Type: application/pdf\nContent-Disposition: attachment; filename="a.pdf"\n'
        b"Content-Transfer-Encoding: base64\n\nJVBERi0=\n"
    )
    message = parse_one(body)
    assert (message.text, message.attachments, message.recipient) == (
        "",
        (
            Attachment(
                filename="a.pdf",
                content_type="application/pdf",
                size=5,
                content=b"%PDF-",
            ),
        ),
        None,
    )


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        pytest.param(b"", "body", "empty", id="empty"),
        pytest.param(b" \r\n\r\n", "body", "empty", id="whitespace"),
        pytest.param(
            b"hello, this is not an email\n",
            "body",
            "not an RFC 5322 message: no header fields",
            id="no-headers",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "body",
            "not an RFC 5322 message: no header fields",
            id="binary",
        ),
        pytest.param(
            b"Subject: hi\n\nno sender\n",
            "From",
            "missing or without an email address",
            id="no-from",
        ),
        pytest.param(
            b"From: undisclosed-recipients:;\nSubject: hi\n\nbody\n",
            "From",
            "missing or without an email address",
            id="from-without-address",
        ),
        pytest.param(
            b'From: "\nSubject: hi\n\nbody\n',
            "From",
            "missing or without an email address",
            id="from-unparsable",
        ),
    ],
)
def test_parse_rejects(body: bytes, field: str, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        parse_one(body)
    assert (caught.value.field, caught.value.reason) == (field, reason)


# Hostile messages, built by byte repetition so that making them costs nothing.
def nested(depth: int) -> bytes:
    """`depth` multiparts, each the only part of the one above, then a text part."""
    opens = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
        for i in range(depth)
    )
    closes = b"".join(b"\n--b%d--" % i for i in reversed(range(depth)))
    return b"From: a@x.test\n" + opens + b"Content-Type: text/plain\n\nhi" + closes


def flat(parts: int, part: bytes) -> bytes:
    return (
        b"From: a@x.test\nContent-Type: multipart/mixed; boundary=b\n\n"
        + (b"--b\n" + part + b"\n") * parts
        + b"--b--\n"
    )


def encoded_words(count: int) -> bytes:
    return b"=?utf-8?q?a?= " * count


INLINE = b"Content-Disposition: inline\n\nx"
ATTACHED = b"Content-Disposition: attachment; filename=a.txt\n\nx"


def named(filename: bytes) -> bytes:
    return b'Content-Disposition: attachment; filename="' + filename + b'"\n\nx'


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        pytest.param(
            nested(3_000), "body", "MIME parts nested deeper than 20", id="deep"
        ),
        pytest.param(
            nested(21), "body", "MIME parts nested deeper than 20", id="depth-21"
        ),
        pytest.param(
            flat(60_000, INLINE), "body", "more than 500 MIME parts", id="60k-parts"
        ),
        pytest.param(
            flat(101, ATTACHED), "attachments", "more than 100", id="101-attachments"
        ),
        pytest.param(
            b"From: a@x.test\nSubject: " + encoded_words(20_000) + b"\n\nhi",
            "Subject",
            "more than 200 RFC 2047 encoded words",
            id="subject-20k-encoded-words",
        ),
        pytest.param(
            flat(1, named(encoded_words(20_000))),
            "filename",
            "more than 200 RFC 2047 encoded words",
            id="filename-20k-encoded-words",
        ),
        pytest.param(
            b"From: " + encoded_words(20_000) + b"<a@x.test>\n\nhi",
            "From",
            "more than 200 RFC 2047 encoded words",
            id="display-name-20k-encoded-words",
        ),
        pytest.param(
            b"From: a@x.test\nContent-Type: multipart/mixed; boundary=b"
            + b"; x=y" * 100_000
            + b"\n\n--b\n\nhi\n--b--\n",
            "Content-Type",
            "more than 100 parameters",
            id="100k-content-type-parameters",
        ),
        pytest.param(
            b"From: a@x.test\nContent-Type: multipart/mixed; boundary*=punycode''"
            + b"a" * 2_000_000
            + b"\n\nhi\n",
            "Content-Type",
            "boundary longer than 200 characters",
            id="2mb-boundary",
        ),
    ],
)
def test_parse_refuses_hostile_structure(body: bytes, field: str, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        parse_one(body)
    assert (caught.value.field, caught.value.reason) == (field, reason)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(nested(20), (0, "hi", None), id="depth-20"),
        pytest.param(flat(500, INLINE), (0, "x", None), id="500-parts"),
        pytest.param(flat(100, ATTACHED), (100, "", None), id="100-attachments"),
        pytest.param(
            b"From: a@x.test\nSubject: " + encoded_words(200) + b"\n\nhi",
            (0, "hi", "a" * 200),
            id="subject-200-encoded-words",
        ),
    ],
)
def test_parse_accepts_up_to_the_limits(
    body: bytes, expected: tuple[int, str, str | None]
) -> None:
    message = parse_one(body)
    assert (len(message.attachments), message.text, message.subject) == expected
