"""Mailgun forward() connector: SDK signature vector, sample POSTs, malformed input."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest

from connectors import mailgun
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
from tests.bombs import mailgun_filename_bomb

DATA = Path(__file__).parent.parent / "data" / "mailgun"
URLENCODED = {"content-type": "application/x-www-form-urlencoded"}
BOUNDARY = "----------------------------2c1bcd4e01a1"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
SAMPLE_KEY = "TEST_WEBHOOK_SIGNING_KEY"  # see tests/data/mailgun/SOURCES.md
URL = "https://omniroute.example/webhooks/email/mailgun"

BASICS = (DATA / "inbound-basics.urlencoded").read_bytes()
BASICS_AT = datetime.fromtimestamp(1461261330, tz=UTC)
SAMPLE_POST = (DATA / "sample-post.multipart").read_bytes()
SAMPLE_POST_AT = datetime.fromtimestamp(1412239366, tz=UTC)
MAILGUN_SANDBOX = "sandbox085a3b878a964897b9b9efb2395a1f5a.mailgun.org"
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b4944415478da636000020000050001e9fadcd80000000049454e44ae426082"
)


def request(
    body: bytes, headers: dict[str, str], received_at: datetime
) -> WebhookRequest:
    return WebhookRequest(body=body, headers=headers, url=URL, received_at=received_at)


def form(**fields: str) -> bytes:
    return urlencode(
        {name.replace("_", "-"): value for name, value in fields.items()}
    ).encode()


# Mailgun's PHP SDK, tests/Api/WebhookTest.php (testVerifyWebhookGood / ...Bad).
SDK_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SDK_TIMESTAMP = "1403645220"
SDK_TOKEN = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"
SDK_BAD_TOKEN = "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr"
SDK_SIGNATURE = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33"
SDK_AT = datetime.fromtimestamp(1403645220, tz=UTC)


def test_sign_matches_the_mailgun_php_vector() -> None:
    assert mailgun.sign(SDK_TIMESTAMP, SDK_TOKEN, SDK_KEY) == SDK_SIGNATURE


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(SDK_SIGNATURE, id="as-sent"),
        pytest.param(SDK_SIGNATURE.upper(), id="upper-case-hex"),
    ],
)
def test_verify_accepts_the_sdk_vector(signature: str) -> None:
    body = form(timestamp=SDK_TIMESTAMP, token=SDK_TOKEN, signature=signature)
    mailgun.verify(request(body, URLENCODED, SDK_AT), SDK_KEY)


def test_verify_rejects_the_sdk_bad_token() -> None:
    body = form(timestamp=SDK_TIMESTAMP, token=SDK_BAD_TOKEN, signature=SDK_SIGNATURE)
    with pytest.raises(SignatureInvalid):
        mailgun.verify(request(body, URLENCODED, SDK_AT), SDK_KEY)


@pytest.mark.parametrize(
    ("body", "headers", "received_at"),
    [
        pytest.param(BASICS, URLENCODED, BASICS_AT, id="urlencoded"),
        pytest.param(SAMPLE_POST, MULTIPART, SAMPLE_POST_AT, id="multipart"),
        pytest.param(
            BASICS, URLENCODED, BASICS_AT + timedelta(minutes=15), id="15-min-old"
        ),
        pytest.param(
            BASICS, URLENCODED, BASICS_AT - timedelta(minutes=15), id="15-min-ahead"
        ),
        pytest.param(
            BASICS,
            {"content-type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"},
            BASICS_AT,
            id="content-type-params",
        ),
    ],
)
def test_verify_accepts(
    body: bytes, headers: dict[str, str], received_at: datetime
) -> None:
    mailgun.verify(request(body, headers, received_at), SAMPLE_KEY)


@pytest.mark.parametrize(
    ("body", "headers", "key", "received_at", "reason"),
    [
        pytest.param(
            BASICS,
            URLENCODED,
            "wrong-key",
            BASICS_AT,
            "signature does not match timestamp and token",
            id="wrong-key",
        ),
        pytest.param(
            BASICS.replace(b"token=06c96baf", b"token=16c96baf"),
            URLENCODED,
            SAMPLE_KEY,
            BASICS_AT,
            "signature does not match timestamp and token",
            id="tampered-token",
        ),
        pytest.param(
            BASICS.replace(b"timestamp=1461261330", b"timestamp=1461261331"),
            URLENCODED,
            SAMPLE_KEY,
            BASICS_AT,
            "signature does not match timestamp and token",
            id="tampered-timestamp",
        ),
        pytest.param(
            BASICS,
            URLENCODED,
            SAMPLE_KEY,
            BASICS_AT + timedelta(minutes=15, seconds=1),
            "timestamp is 901 s in the past (limit 900 s)",
            id="stale",
        ),
        pytest.param(
            BASICS,
            URLENCODED,
            SAMPLE_KEY,
            BASICS_AT - timedelta(hours=1),
            "timestamp is 3600 s in the future (limit 900 s)",
            id="future",
        ),
        pytest.param(
            form(timestamp="1461261330", token="abc"),
            URLENCODED,
            SAMPLE_KEY,
            BASICS_AT,
            "form has no signature",
            id="no-signature",
        ),
        pytest.param(
            form(signature="00", timestamp=""),
            URLENCODED,
            SAMPLE_KEY,
            BASICS_AT,
            "form has no timestamp, token",
            id="no-timestamp-no-token",
        ),
        pytest.param(
            b"",
            MULTIPART,
            SAMPLE_KEY,
            BASICS_AT,
            "cannot read the signed fields: body: no form-data parts for the"
            " Content-Type boundary",
            id="empty-multipart",
        ),
        pytest.param(
            BASICS,
            {"content-type": "application/json"},
            SAMPLE_KEY,
            BASICS_AT,
            "cannot read the signed fields: content-type: expected a form, got"
            " application/json",
            id="json",
        ),
        pytest.param(
            form(
                timestamp="1461261330.5",
                token="abc",
                signature=mailgun.sign("1461261330.5", "abc", SAMPLE_KEY),
            ),
            URLENCODED,
            SAMPLE_KEY,
            BASICS_AT,
            "timestamp is not unix seconds",
            id="fractional-timestamp",
        ),
    ],
)
def test_verify_rejects(
    body: bytes, headers: dict[str, str], key: str, received_at: datetime, reason: str
) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        mailgun.verify(request(body, headers, received_at), key)
    assert caught.value.reason == reason
    assert key not in caught.value.reason


def test_replay_key_is_the_token() -> None:
    assert mailgun.replay_key(SAMPLE_POST, MULTIPART) == (
        "4166ec05b27b5d3c024252ad43df47865128c8fcde47dfea6b"
    )


def test_replay_key_without_token() -> None:
    with pytest.raises(PayloadInvalid) as caught:
        mailgun.replay_key(form(timestamp="1"), URLENCODED)
    assert caught.value.field == "token"


def test_parse_multipart_sample_with_two_attachments() -> None:
    assert list(mailgun.parse(SAMPLE_POST, MULTIPART).messages) == [
        InboundMessage(
            provider="mailgun",
            provider_message_id=f"517ACC75.5010709@{MAILGUN_SANDBOX}",
            channel=Channel.email,
            sender=IdentityClaim(
                kind=IdentityKind.email, value=f"bob@{MAILGUN_SANDBOX}", name="Bob"
            ),
            text="Hi Alice,\n\nThis is Bob.\n\nI also attached a file.",
            full_text=(
                "Hi Alice,\n\nThis is Bob.\n\nI also attached a file.\n\nThanks,\nBob\n\n"
                "On 04/26/2013 11:29 AM, Alice wrote:\n> Hi Bob,\n>\n"
                "> This is Alice. How are you doing?\n>\n> Thanks,\n> Alice"
            ),
            subject="Re: Sample POST request",
            sent_at=datetime(
                2013, 4, 26, 11, 50, 29, tzinfo=timezone(timedelta(hours=-7))
            ),
            attachments=(
                Attachment(
                    filename="image.png",
                    content_type="image/png",
                    size=68,
                    content=PNG_1X1,
                ),
                Attachment(
                    filename="sample.txt",
                    content_type="text/plain",
                    size=48,
                    content="Sample attachment: Grüße aus Köln\r\nline two\r\n".encode(),
                ),
            ),
            email=EmailHeaders(
                message_id=f"517ACC75.5010709@{MAILGUN_SANDBOX}",
                in_reply_to=(f"517AC78B.5060404@{MAILGUN_SANDBOX}",),
                references=(f"517AC78B.5060404@{MAILGUN_SANDBOX}",),
            ),
            recipient=f"alice@{MAILGUN_SANDBOX}",
        )
    ]


def test_parse_urlencoded_reads_message_headers() -> None:
    assert list(mailgun.parse(BASICS, URLENCODED).messages) == [
        InboundMessage(
            provider="mailgun",
            provider_message_id="CAEPk3R+4Zr@mail.example.org",
            channel=Channel.email,
            sender=IdentityClaim(
                kind=IdentityKind.email,
                value="from+test@example.org",
                name="Displayed From",
            ),
            text="stripped plaintext body",
            full_text="Test body plain",
            subject="Test subject",
            sent_at=datetime(
                2017, 10, 11, 18, 31, 4, tzinfo=timezone(timedelta(hours=-7))
            ),
            email=EmailHeaders(message_id="CAEPk3R+4Zr@mail.example.org"),
            recipient="test@inbound.example.com",
        )
    ]


MINIMAL = {"Message-Id": "<m1@example.org>", "from": "Ann <ann@example.org>"}


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        pytest.param(
            {"sender": "bounce+x@example.net", "Message-Id": "<m1@example.org>"},
            "sender",
            IdentityClaim(kind=IdentityKind.email, value="bounce+x@example.net"),
            id="sender-when-no-from",
        ),
        pytest.param(
            {**MINIMAL, "from": "undisclosed", "sender": "ann@example.org"},
            "sender",
            IdentityClaim(kind=IdentityKind.email, value="ann@example.org"),
            id="sender-when-from-has-no-address",
        ),
        pytest.param(
            {
                **MINIMAL,
                "body-plain": "Yes.\n\nOn Mon, 3 Mar 2025, Support wrote:\n> Ok?\n",
            },
            "text",
            "Yes.",
            id="no-stripped-text-strips-body-plain",
        ),
        pytest.param(
            {**MINIMAL, "body-plain": "", "body-html": "<p>Only <b>HTML</b></p>"},
            "text",
            "Only HTML",
            id="html-when-body-plain-empty",
        ),
        pytest.param(MINIMAL, "text", "", id="no-body-at-all"),
        pytest.param(
            {**MINIMAL, "timestamp": "1461261330"},
            "sent_at",
            datetime(2016, 4, 21, 17, 55, 30, tzinfo=UTC),
            id="timestamp-when-no-date",
        ),
        pytest.param(
            {**MINIMAL, "Date": "yesterday", "timestamp": "1461261330"},
            "sent_at",
            datetime(2016, 4, 21, 17, 55, 30, tzinfo=UTC),
            id="timestamp-when-date-unparsable",
        ),
        pytest.param(
            {**MINIMAL, "timestamp": "soon"},
            "sent_at",
            None,
            id="neither-date-nor-timestamp",
        ),
        pytest.param(
            {
                **MINIMAL,
                "Message-Id": "",
                "message-headers": '[["Message-ID", "<h@x>"]]',
            },
            "provider_message_id",
            "h@x",
            id="message-id-from-headers-any-case",
        ),
        pytest.param(
            {**MINIMAL, "References": "<a@x>\n <b@x>", "In-Reply-To": "<b@x>"},
            "email",
            EmailHeaders(
                message_id="m1@example.org",
                in_reply_to=("b@x",),
                references=("a@x", "b@x"),
            ),
            id="threading",
        ),
        pytest.param(
            {**MINIMAL, "subject": "", "recipient": ""},
            "subject",
            None,
            id="empty-subject",
        ),
    ],
)
def test_parse_fields(fields: dict[str, str], attribute: str, expected: object) -> None:
    [message] = mailgun.parse(urlencode(fields).encode(), URLENCODED).messages
    assert getattr(message, attribute) == expected


def multipart(*parts: bytes) -> bytes:
    return b"".join(b"--XyZ\r\n" + part + b"\r\n" for part in parts) + b"--XyZ--\r\n"


MULTIPART_XYZ = {"content-type": "multipart/form-data; boundary=XyZ"}
MESSAGE_ID_PART = b'Content-Disposition: form-data; name="Message-Id"\r\n\r\n<m1@x>'
FROM_PART = b'Content-Disposition: form-data; name="from"\r\n\r\nann@example.org'


def test_parse_multipart_utf8_filename_and_field() -> None:
    body = multipart(
        MESSAGE_ID_PART,
        FROM_PART,
        b'Content-Disposition: form-data; name="stripped-text"\r\n\r\nGr\xc3\xbc\xc3\x9fe',
        b"Content-Disposition: form-data; name=attachment-1;"
        b' filename="\xc3\x9cbersicht.csv"\r\nContent-Type: text/csv\r\n\r\na,b\r\n',
        b'Content-Disposition: form-data; name="attachment-count"\r\n\r\n1',
        b"Content-Disposition: form-data\r\n\r\nnameless part is ignored",
    )
    [message] = mailgun.parse(body, MULTIPART_XYZ).messages
    assert (message.text, message.attachments) == (
        "Grüße",
        (
            Attachment(
                filename="Übersicht.csv",
                content_type="text/csv",
                size=5,
                content=b"a,b\r\n",
            ),
        ),
    )


def test_parse_keeps_an_eml_upload_byte_for_byte() -> None:
    # anymail's test_attachments posts a forwarded message as message/rfc822.
    eml = b"From: Customer <c@example.net>\r\nSubject: Hi\r\n\r\nline1\r\nline2\r\n"
    body = multipart(
        MESSAGE_ID_PART,
        FROM_PART,
        b'Content-Disposition: form-data; name="attachment-1";'
        b' filename="forwarded.msg"\r\nContent-Type: message/rfc822\r\n\r\n' + eml,
        b'Content-Disposition: form-data; name="attachment-count"\r\n\r\n1',
    )
    [message] = mailgun.parse(body, MULTIPART_XYZ).messages
    assert message.attachments == (
        Attachment(
            filename="forwarded.msg",
            content_type="message/rfc822",
            size=len(eml),
            content=eml,
        ),
    )


def numbered_file(number: int) -> bytes:
    return (
        f'Content-Disposition: form-data; name="attachment-{number}";'
        f' filename="{number}.txt"\r\nContent-Type: text/plain\r\n\r\n{number}'
    ).encode()


def test_parse_orders_attachments_by_number() -> None:
    count = b'Content-Disposition: form-data; name="attachment-count"\r\n\r\n10'
    body = multipart(
        MESSAGE_ID_PART,
        FROM_PART,
        count,
        *(numbered_file(n) for n in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9)),
    )
    [message] = mailgun.parse(body, MULTIPART_XYZ).messages
    assert [a.filename for a in message.attachments] == [
        f"{n}.txt" for n in range(1, 11)
    ]


@pytest.mark.parametrize(
    ("body", "headers", "field", "reason"),
    [
        pytest.param(
            form(**{"from": "ann@example.org"}),
            URLENCODED,
            "Message-Id",
            "missing from the form and message-headers",
            id="no-message-id",
        ),
        pytest.param(
            urlencode({"Message-Id": "<m@x>", "from": "nobody"}).encode(),
            URLENCODED,
            "from",
            "no email address in from or sender",
            id="no-sender",
        ),
        pytest.param(
            urlencode({**MINIMAL, "message-headers": "{not json"}).encode(),
            URLENCODED,
            "message-headers",
            "not a JSON list of [name, value]",
            id="message-headers-not-json",
        ),
        pytest.param(
            urlencode(
                {**MINIMAL, "message-headers": json.dumps({"From": "x"})}
            ).encode(),
            URLENCODED,
            "message-headers",
            "not a JSON list of [name, value]",
            id="message-headers-object",
        ),
        pytest.param(
            urlencode({**MINIMAL, "attachment-count": "2"}).encode(),
            URLENCODED,
            "attachment-count",
            "is '2' but the form has 0 attachment-N files",
            id="attachments-missing",
        ),
        pytest.param(
            b"from=%FF", URLENCODED, "body", "form is not UTF-8", id="bad-percent-utf8"
        ),
        pytest.param(
            b"from=\xff", URLENCODED, "body", "form is not UTF-8", id="bad-raw-utf8"
        ),
        pytest.param(
            SAMPLE_POST,
            {"content-type": "multipart/form-data; boundary=other"},
            "body",
            "no form-data parts for the Content-Type boundary",
            id="wrong-boundary",
        ),
        pytest.param(
            SAMPLE_POST,
            {"content-type": "multipart/form-data"},
            "body",
            "no form-data parts for the Content-Type boundary",
            id="no-boundary",
        ),
        pytest.param(
            BASICS,
            {},
            "content-type",
            "expected a form, got no content-type",
            id="no-content-type",
        ),
        pytest.param(
            multipart(
                MESSAGE_ID_PART,
                FROM_PART,
                *(numbered_file(n) for n in range(1, 102)),
                b'Content-Disposition: form-data; name="attachment-count"\r\n\r\n101',
            ),
            MULTIPART_XYZ,
            "attachments",
            "more than 100",
            id="101-attachments",
        ),
        pytest.param(
            multipart(*[MESSAGE_ID_PART, FROM_PART] * 30_000),
            MULTIPART_XYZ,
            "body",
            "more than 500 MIME parts",
            id="60k-form-parts",
        ),
    ],
)
def test_parse_rejects(
    body: bytes, headers: dict[str, str], field: str, reason: str
) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        mailgun.parse(body, headers)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def signed_multipart(*extra: bytes, token: str = SDK_TOKEN) -> bytes:
    signed = [
        b'Content-Disposition: form-data; name="timestamp"\r\n\r\n' + SDK_TIMESTAMP.encode(),
        b'Content-Disposition: form-data; name="token"\r\n\r\n' + token.encode(),
        b'Content-Disposition: form-data; name="signature"\r\n\r\n' + SDK_SIGNATURE.encode(),
    ]  # fmt: skip
    return multipart(*extra, *signed)


def test_verify_reads_only_the_signed_fields() -> None:
    # An attachment the MIME parser refuses (its filename has 300 encoded words):
    # the signature is checked without it; parse then answers for the body.
    bomb = (
        b'Content-Disposition: form-data; name="attachment-1"; filename="'
        + b" ".join([b"=?utf-8?q?a?="] * 300)
        + b'"\r\n\r\ncontent'
    )
    body = signed_multipart(bomb)
    mailgun.verify(request(body, MULTIPART_XYZ, SDK_AT), SDK_KEY)
    assert mailgun.replay_key(body, MULTIPART_XYZ) == SDK_TOKEN
    with pytest.raises(PayloadInvalid, match="more than 200 RFC 2047 encoded words"):
        mailgun.parse(body, MULTIPART_XYZ)


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        pytest.param(
            form(timestamp=SDK_TIMESTAMP, token=SDK_TOKEN, signature=SDK_SIGNATURE)
            + b"&token=another",
            URLENCODED,
            "cannot read the signed fields: token: appears more than once",
            id="urlencoded-second-token",
        ),
        pytest.param(
            signed_multipart(
                b'Content-Disposition: form-data; name="token"\r\n\r\nfirst'
            ),
            MULTIPART_XYZ,
            "cannot read the signed fields: token: appears more than once",
            id="multipart-second-token",
        ),
        pytest.param(
            signed_multipart(*[FROM_PART] * 200),
            MULTIPART_XYZ,
            "cannot read the signed fields: body: more than 200 form fields",
            id="203-parts",
        ),
        pytest.param(
            b"a=b&" * 300
            + form(timestamp=SDK_TIMESTAMP, token=SDK_TOKEN, signature=SDK_SIGNATURE),
            URLENCODED,
            "cannot read the signed fields: body: more than 200 form fields",
            id="303-fields",
        ),
    ],
)
def test_verify_refuses_a_signed_field_twice_or_too_many_fields(
    body: bytes, headers: dict[str, str], reason: str
) -> None:
    # A second `token` after the signed one would let a captured request be
    # replayed under a new replay key; verify and replay_key read the same one.
    with pytest.raises(SignatureInvalid) as caught:
        mailgun.verify(request(body, headers, SDK_AT), SDK_KEY)
    assert caught.value.reason == reason


def test_an_unsigned_filename_bomb_is_refused_in_milliseconds() -> None:
    bomb = mailgun_filename_bomb()
    headers = {"content-type": bomb.headers["Content-Type"]}
    started = time.perf_counter()
    with pytest.raises(SignatureInvalid, match="Maximum header size exceeded"):
        mailgun.verify(request(bomb.body, headers, SDK_AT), SDK_KEY)
    assert time.perf_counter() - started < 0.1  # was 11.7 s through the MIME parser
