"""Shared email helpers: reply stripping, HTML to text, Message-IDs, dates, addresses."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.email_text import (
    MAX_REPLY_SEARCH_CHARS,
    attachment_filename,
    decode_words,
    email_claim,
    email_headers,
    header_text,
    html_to_text,
    message_ids,
    parse_date,
    part_text,
    read_message,
    reply_and_full,
    strip_quoted_reply,
)
from connectors.model import EmailHeaders, IdentityClaim, IdentityKind, PayloadInvalid

GMAIL_REPLY = """\
Sounds good, Thursday at 3pm works for me.

Thanks,
Dana

On Tue, Mar 4, 2025 at 9:12\u202fAM Omniroute Support <support@omniroute.example> wrote:

> Hi Dana,
>
> Could we schedule a call this week?
>
> Best regards,
> Support
"""

OUTLOOK_REPLY = (
    "Please cancel order 4471, it was placed twice.\r\n"
    "\r\n"
    "Peter Smith\r\n"
    "\r\n"
    "________________________________\r\n"
    "From: Omniroute Support <support@omniroute.example>\r\n"
    "Sent: Monday, March 3, 2025 4:05 PM\r\n"
    "To: Peter Smith <peter.smith@example.org>\r\n"
    "Subject: Your order 4471 has shipped\r\n"
    "\r\n"
    "Hello Peter,\r\n"
    "your order has shipped.\r\n"
)

GERMAN_REPLY = """\
Hallo,

ich habe die Rechnung immer noch nicht erhalten.

Viele Grüße
Jonas Weber

Am Mo., 3. März 2025 um 10:15 Uhr schrieb Kundenservice <service@omniroute.example>:
> Guten Tag Herr Weber,
>
> Ihre Rechnung ist unterwegs.
"""

HYPHEN_LIST = """\
Hi,

I need:
- a corrected invoice
- a refund of the shipping fee

Thanks,
Anna
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            GMAIL_REPLY, "Sounds good, Thursday at 3pm works for me.", id="gmail"
        ),
        pytest.param(
            OUTLOOK_REPLY,
            "Please cancel order 4471, it was placed twice.\n\nPeter Smith",
            id="outlook-from-sent-block",
        ),
        pytest.param(
            GERMAN_REPLY,
            "Hallo,\n\nich habe die Rechnung immer noch nicht erhalten.",
            id="german-am-schrieb",
        ),
        pytest.param(
            HYPHEN_LIST,
            "Hi,\n\nI need:\n- a corrected invoice\n- a refund of the shipping fee",
            id="hyphen-list-is-not-a-signature",
        ),
        pytest.param(
            "Yes, please go ahead.\n\n> Shall we ship it today?\n> Omniroute\n",
            "Yes, please go ahead.",
            id="bare-quote-without-attribution",
        ),
        pytest.param("Hello\n\n-- \nBob\n", "Hello", id="dash-dash-signature"),
        pytest.param(
            "> quoted only\n> nothing new\n",
            "> quoted only\n> nothing new",
            id="all-quoted-kept",
        ),
        pytest.param(
            "Table:\n    a  1\n    b  2\n",
            "Table:\n    a  1\n    b  2",
            id="nothing-to-strip-keeps-indentation",
        ),
        pytest.param("", "", id="empty"),
    ],
)
def test_strip_quoted_reply(text: str, expected: str) -> None:
    assert strip_quoted_reply(text) == expected


LONG_LINE = "All work and no play makes Jack a dull boy.\n"
PAST_THE_CAP = LONG_LINE * (MAX_REPLY_SEARCH_CHARS // len(LONG_LINE) + 100)


def test_quoted_history_is_looked_for_in_the_first_64_kib_only() -> None:
    text = GMAIL_REPLY + "\n> " + PAST_THE_CAP
    assert len(text) > MAX_REPLY_SEARCH_CHARS
    assert strip_quoted_reply(text) == strip_quoted_reply(GMAIL_REPLY)
    assert reply_and_full(text)[1] == text.rstrip()  # full_text is all of it


def test_a_long_text_without_history_in_its_head_is_kept_whole() -> None:
    text = PAST_THE_CAP + "\n> quoted, but past the cap\n"
    assert strip_quoted_reply(text) == text.rstrip()


def test_a_9_mib_text_is_stripped_in_well_under_a_second() -> None:
    text = LONG_LINE * (9 * 1024 * 1024 // len(LONG_LINE))
    started = time.perf_counter()
    assert strip_quoted_reply(text) == text.rstrip()
    assert time.perf_counter() - started < 2  # 0.06 s; was 5 s before the cap


@pytest.mark.parametrize(
    ("full", "stripped", "expected"),
    [
        pytest.param(
            "New part\r\n\r\n> old part\r\n",
            None,
            ("New part", "New part\n\n> old part"),
            id="computed",
        ),
        pytest.param(
            "Body\n\n> quoted",
            "Provider stripped\r\ntext ",
            ("Provider stripped\ntext", "Body\n\n> quoted"),
            id="provider-stripped-wins",
        ),
        pytest.param(
            "Body\n\n> quoted",
            "  \n",
            ("Body", "Body\n\n> quoted"),
            id="blank-stripped",
        ),
        pytest.param("Just this.\n", None, ("Just this.", None), id="same-no-full"),
    ],
)
def test_reply_and_full(
    full: str, stripped: str | None, expected: tuple[str, str | None]
) -> None:
    assert reply_and_full(full, stripped) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            "<html><head><style>p {color: red}</style></head><body>"
            "<p>Hello <b>Jane</b>,</p>"
            '<p>Your <a href="https://example.com/t/1">ticket</a> &amp; invoice'
            "<br>are ready.</p>"
            '<img src="cid:logo" alt="logo"></body></html>',
            "Hello Jane,\n\nYour [ticket](https://example.com/t/1) & invoice\nare ready.",
            id="paragraphs-links-no-images",
        ),
        pytest.param(
            "<ul><li>one</li><li>two</li></ul><p>caf&eacute; &nbsp;ok</p>",
            # inscriptis renders &nbsp; as a collapsible space (html2text kept U+00A0)
            "  * one\n  * two\n\ncafé ok",
            id="lists-and-entities",
        ),
        pytest.param(
            '<div dir="ltr">Hi,<div><br></div><div>the <span>lid</span> is'
            " <i>cracked</i>.</div></div>",
            "Hi,\n\nthe lid is cracked.",
            id="nested-divs-not-indented",
        ),
        pytest.param(
            "<p>a</p><br><br><br><br><p>b</p>", "a\n\nb", id="blank-runs-collapsed"
        ),
        pytest.param("", "", id="empty"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, (), id="none"),
        pytest.param("", (), id="empty"),
        pytest.param(
            "<1234@local.machine.example>", ("1234@local.machine.example",), id="one"
        ),
        pytest.param(
            "<1234@local.machine.example>\r\n <3456@example.net>",
            ("1234@local.machine.example", "3456@example.net"),
            id="folded-references",
        ),
        pytest.param("<a@x>,<b@y>", ("a@x", "b@y"), id="comma-separated"),
        pytest.param("a@x b@y", ("a@x", "b@y"), id="bare-ids"),
        pytest.param("a@x, <", ("a@x",), id="bare-with-junk"),
        pytest.param("<[abc@microsoft.com]>", ("[abc@microsoft.com]",), id="exchange"),
    ],
)
def test_message_ids(value: str | None, expected: tuple[str, ...]) -> None:
    assert message_ids(value) == expected


def test_email_headers_takes_first_message_id() -> None:
    assert email_headers("<a@x> <b@x>", "<c@x>", None) == EmailHeaders(
        message_id="a@x", in_reply_to=("c@x",), references=()
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "Fri, 21 Nov 1997 09:55:06 -0600",
            datetime(1997, 11, 21, 9, 55, 6, tzinfo=timezone(timedelta(hours=-6))),
            id="offset",
        ),
        pytest.param(
            "Fri, 21 Nov 1997 09:55:06 -0000",
            datetime(1997, 11, 21, 9, 55, 6, tzinfo=UTC),
            id="minus-zero-is-utc",
        ),
        pytest.param(
            "21 Nov 97 09:55:06 GMT",
            datetime(1997, 11, 21, 9, 55, 6, tzinfo=UTC),
            id="obsolete-two-digit-year",
        ),
        pytest.param("Freitag, 26. April 2013 11:50", None, id="localized"),
        pytest.param("Fri, 31 Feb 2013 11:50:29 +0000", None, id="no-such-day"),
        pytest.param("Fri, 26 Apr 2013 25:50:29 +0000", None, id="hour-25"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_date(value: str | None, expected: datetime | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "Bob <Bob@Example.ORG>",
            IdentityClaim(kind=IdentityKind.email, value="bob@example.org", name="Bob"),
            id="display-name",
        ),
        pytest.param(
            '"Müller, Hans" <hans@example.de>',
            IdentityClaim(
                kind=IdentityKind.email, value="hans@example.de", name="Müller, Hans"
            ),
            id="quoted-comma",
        ),
        pytest.param(
            "envelope-from@example.org",
            IdentityClaim(kind=IdentityKind.email, value="envelope-from@example.org"),
            id="bare",
        ),
        pytest.param("undisclosed-recipients:;", None, id="empty-group"),
        pytest.param("MAILER-DAEMON", None, id="no-at"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_email_claim(value: str | None, expected: IdentityClaim | None) -> None:
    assert email_claim(value) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            b"Content-Type: text/plain; charset=iso-8859-1\n\nK\xf8benhavn",
            "København",
            id="declared-latin1",
        ),
        pytest.param(b"\nK\xc3\xb8benhavn", "København", id="undeclared-is-utf8"),
        pytest.param(
            b"Content-Type: text/plain; charset=x-klingon\n\nK\xc3\xb8benhavn",
            "København",
            id="unknown-charset-is-utf8",
        ),
        pytest.param(
            b"Content-Type: text/plain; charset=base64\n\nK\xc3\xb8benhavn",
            "København",
            id="bytes-codec-is-utf8",
        ),
        pytest.param(
            b"Content-Type: text/plain; charset=idna\n\nK\xc3\xb8benhavn" + b"n" * 64,
            "København" + "n" * 64,
            id="idna-is-utf8",  # the codec raises whatever the error handler
        ),
        pytest.param(
            b"Content-Type: text/plain; charset=punycode\n\nK\xc3\xb8benhavn",
            "København",
            id="punycode-is-utf8",  # the codec takes quadratic time
        ),
        pytest.param(
            b"Content-Type: text/plain; charset*=us-ascii'en'iso-8859-1\n\nK\xf8benhavn",
            "København",
            id="rfc2231-charset",
        ),
        pytest.param(
            b"Content-Type: text/plain; charset=utf-8\n\nK\xf8benhavn",
            "K\ufffdbenhavn",
            id="invalid-bytes-replaced",
        ),
    ],
)
def test_part_text(raw: bytes, expected: str) -> None:
    assert part_text(read_message(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        pytest.param(
            b"Subject: =?ISO-8859-1?Q?Andr=E9?= Pirard\n\n",
            "Subject",
            "André Pirard",
            id="encoded-word",
        ),
        pytest.param(
            b"Message-ID: <[b378dfc50603435b@microsoft.com]>\n\n",
            "Message-ID",
            "<[b378dfc50603435b@microsoft.com]>",
            id="stdlib-parser-error-gives-raw",
        ),
        pytest.param(
            b"Message-ID: <J\xc3\xb6rg@[\n\n",
            "Message-ID",
            "<Jörg@[",
            id="raw-fallback-decodes-utf8",
        ),
        pytest.param(b"Subject: hi\n\n", "From", None, id="absent"),
    ],
)
def test_header_text(raw: bytes, name: str, expected: str | None) -> None:
    assert header_text(read_message(raw), name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain text", "plain text", id="no-words"),
        pytest.param(
            "=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard", id="q-then-text"
        ),
        pytest.param("=?utf-8?B?R3LDvMOfZQ==?=", "Grüße", id="b"),
        pytest.param("=?utf-8?B?R3LDvMOfZQ?=", "Grüße", id="b-missing-padding"),
        pytest.param("=?utf-8?q?a_b?=", "a b", id="q-underscore-is-space"),
        pytest.param(
            "=?utf-8?q?a?=  \t=?utf-8?q?b?=", "ab", id="space-between-words-dropped"
        ),
        pytest.param("x =?utf-8?q?a?= y", "x a y", id="space-around-text-kept"),
        pytest.param("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", "Grüße", id="rfc2231-language"),
        pytest.param("=?x-klingon?q?abc?=", "abc", id="unknown-charset-is-utf8"),
        pytest.param(
            "=?utf-8?b?QUJDR?= =?utf-8?q?ok?=", "=?utf-8?b?QUJDR?= ok", id="bad-b-kept"
        ),
        pytest.param(
            "=?utf-8?q?caf\xe9?=", "=?utf-8?q?caf\xe9?=", id="non-ascii-q-kept"
        ),
        pytest.param("=?utf-8?q?a?=" * 200, "a" * 200, id="200-words"),
    ],
)
def test_decode_words(value: str, expected: str) -> None:
    assert decode_words(value, "Subject") == expected


def test_decode_words_refuses_more_than_200() -> None:
    with pytest.raises(PayloadInvalid) as caught:
        decode_words("=?utf-8?q?a?=" * 201, "Subject")
    assert (caught.value.field, caught.value.reason) == (
        "Subject",
        "more than 200 RFC 2047 encoded words",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            b'Content-Disposition: attachment; filename="a.pdf"\n\n',
            "a.pdf",
            id="plain",
        ),
        pytest.param(
            b"Content-Disposition: attachment; filename*=utf-8''%C3%9Cbersicht.csv\n\n",
            "Übersicht.csv",
            id="rfc2231",
        ),
        pytest.param(
            b"Content-Disposition: attachment;\n"
            b' filename="=?utf-8?q?R=C3=A9sum=C3=A9?=\n =?utf-8?q?.pdf?="\n\n',
            "Résumé.pdf",
            id="rfc2047-folded",
        ),
        pytest.param(
            b'Content-Disposition: attachment; filename="\xc3\x9cbersicht.csv"\n\n',
            "Übersicht.csv",
            id="raw-utf8",
        ),
        pytest.param(
            b'Content-Type: image/png; name="logo.png"\n\n', "logo.png", id="ct-name"
        ),
        pytest.param(
            b'Content-Disposition: attachment; filename=""\n\n', None, id="blank"
        ),
        pytest.param(b"Content-Disposition: attachment\n\n", None, id="absent"),
    ],
)
def test_attachment_filename(raw: bytes, expected: str | None) -> None:
    assert attachment_filename(read_message(raw)) == expected
