"""Email replies: subject and threading rules, the Mailgun request and answers, SMTP MIME."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from outbound import email_message, email_reply, mailgun
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

DOMAIN = "support.acme.example"
CONFIG = mailgun.Config(
    domain=DOMAIN, api_key="key-mailgun", default_from="help@acme.example"
)
SENT_AT = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
REPLY = Delivery(
    message_id="0f0e8c1e-7e4c-4ad7-9a55-4b9b0cb0f3a1",
    provider="mailgun",
    channel="email",
    to="ada@example.org",
    sender="support@acme.example",
    text="Your refund is on its way.",
    subject="Where is my refund?",
    reply_to="CAF=abc123@mail.example.org",
    references=("root@mail.example.org", "<second@mail.example.org>"),
)
OWN_ID = f"<{REPLY.message_id}@{DOMAIN}>"
THREAD = (
    "<root@mail.example.org> <second@mail.example.org> <CAF=abc123@mail.example.org>"
)


# --- subject --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param("Where is my refund?", "Re: Where is my refund?", id="plain"),
        pytest.param("Re: Refund", "Re: Refund", id="already-re"),
        pytest.param("RE: re: Re:Refund", "Re: Refund", id="repeated-any-case"),
        pytest.param("Re[2]: Refund", "Re: Refund", id="counter-brackets"),
        pytest.param("Re(3) : Refund", "Re: Refund", id="counter-parens-space"),
        pytest.param("AW: Rückerstattung", "Re: Rückerstattung", id="german"),
        pytest.param("SV: Återbetalning", "Re: Återbetalning", id="scandinavian"),
        pytest.param("Antw: Terugbetaling", "Re: Terugbetaling", id="dutch"),
        pytest.param("Fwd: Refund", "Re: Fwd: Refund", id="forward-kept"),
        pytest.param("Reorder: blue mugs", "Re: Reorder: blue mugs", id="re-word"),
        pytest.param("Refund\r\n\tplease", "Re: Refund please", id="folded"),
        pytest.param("", "Re:", id="empty"),
        pytest.param(None, "Re:", id="none"),
        pytest.param("Re:", "Re:", id="only-prefix"),
    ],
)
def test_reply_subject(subject: str | None, expected: str) -> None:
    assert email_reply.reply_subject(subject) == expected


# --- threading --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply_to", "refs", "in_reply_to", "expected"),
    [
        pytest.param("parent@x", (), "<parent@x>", ("<parent@x>",), id="no-references"),
        pytest.param(
            "<parent@x>",
            ("<root@x>",),
            "<parent@x>",
            ("<root@x>", "<parent@x>"),
            id="brackets-either-way",
        ),
        pytest.param(
            "parent@x",
            ("root@x", "parent@x", "root@x"),
            "<parent@x>",
            ("<root@x>", "<parent@x>"),
            id="duplicates-dropped-parent-last",
        ),
        pytest.param(
            None, ("root@x",), None, ("<root@x>",), id="no-parent-keeps-references"
        ),
        pytest.param(
            "has space@x", ("ok@x", "<>"), None, ("<ok@x>",), id="unusable-ids-skipped"
        ),
    ],
)
def test_threading(
    reply_to: str | None,
    refs: tuple[str, ...],
    in_reply_to: str | None,
    expected: tuple[str, ...],
) -> None:
    delivery = replace(REPLY, reply_to=reply_to, references=refs)
    assert email_reply.in_reply_to(delivery) == in_reply_to
    assert email_reply.references(delivery) == expected


def test_references_trimmed_to_root_and_latest() -> None:
    refs = tuple(f"m{n}@x" for n in range(30))
    chain = email_reply.references(replace(REPLY, reply_to="last@x", references=refs))
    assert len(chain) == email_reply.MAX_REFERENCES
    assert chain[0] == "<m0@x>"
    assert chain[-2:] == ("<m29@x>", "<last@x>")


@pytest.mark.parametrize(
    ("message_id", "domain"),
    [
        pytest.param("has space", DOMAIN, id="space"),
        pytest.param("a@b", DOMAIN, id="at-sign"),
        pytest.param("ok", "bad domain", id="domain"),
        pytest.param("", DOMAIN, id="empty"),
    ],
)
def test_own_message_id_refuses(message_id: str, domain: str) -> None:
    with pytest.raises(SendRefused):
        email_reply.own_message_id(message_id, domain)


# --- Mailgun ------------------------------------------------------------------------


def mailgun_call(*form: tuple[str, str]) -> HttpCall:
    return HttpCall(
        method="POST",
        url=f"https://api.mailgun.net/v3/{DOMAIN}/messages",
        form=form,
        auth=("api", "key-mailgun"),
    )


@pytest.mark.parametrize(
    ("delivery", "config", "expected"),
    [
        pytest.param(
            REPLY,
            CONFIG,
            mailgun_call(
                ("from", "support@acme.example"),
                ("to", "ada@example.org"),
                ("subject", "Re: Where is my refund?"),
                ("text", "Your refund is on its way."),
                ("h:Message-Id", OWN_ID),
                ("h:In-Reply-To", "<CAF=abc123@mail.example.org>"),
                ("h:References", THREAD),
                ("v:omniroute-message-id", REPLY.message_id),
            ),
            id="threaded-reply",
        ),
        pytest.param(
            replace(
                REPLY,
                sender=None,
                reply_to=None,
                references=(),
                subject="RE: Refund",
                attachments=(
                    MediaLink(url="https://files.example.com/r.pdf", filename="r.pdf"),
                    MediaLink(url="https://files.example.com/x"),
                ),
            ),
            replace(
                CONFIG, from_name="Acme Support", api_base="https://api.eu.mailgun.net/"
            ),
            replace(
                mailgun_call(
                    ("from", "Acme Support <help@acme.example>"),
                    ("to", "ada@example.org"),
                    ("subject", "Re: Refund"),
                    (
                        "text",
                        "Your refund is on its way.\n\n"
                        "- r.pdf: https://files.example.com/r.pdf\n"
                        "- https://files.example.com/x",
                    ),
                    ("h:Message-Id", OWN_ID),
                    ("v:omniroute-message-id", REPLY.message_id),
                ),
                url=f"https://api.eu.mailgun.net/v3/{DOMAIN}/messages",
            ),
            id="default-from-links-eu-no-thread",
        ),
    ],
)
def test_mailgun_build(
    delivery: Delivery, config: mailgun.Config, expected: HttpCall
) -> None:
    assert mailgun.build(delivery, config) == (expected,)


@pytest.mark.parametrize(
    ("delivery", "config", "reason"),
    [
        pytest.param(
            replace(REPLY, sender=None),
            replace(CONFIG, default_from=None),
            "no address to send from (delivery.sender or default_from)",
            id="no-from",
        ),
        pytest.param(
            replace(REPLY, text=" "),
            CONFIG,
            "nothing to send: no text or attachment",
            id="blank",
        ),
        pytest.param(
            replace(REPLY, template=Template(name="x", language="en")),
            CONFIG,
            "email has no message templates; send text",
            id="template",
        ),
        pytest.param(
            replace(REPLY, message_id="not an id"),
            CONFIG,
            "the message id 'not an id' cannot stand in a Message-ID",
            id="bad-message-id",
        ),
    ],
)
def test_mailgun_build_refuses(
    delivery: Delivery, config: mailgun.Config, reason: str
) -> None:
    with pytest.raises(SendRefused) as caught:
        mailgun.build(delivery, config)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(
            200,
            {},
            sample("mailgun", "queued.json"),
            SendOutcome(
                verdict=Verdict.sent,
                provider_message_ids=("20111114174239.25659.5817@samples.mailgun.org",),
            ),
            id="200-queued-id-without-brackets",
        ),
        pytest.param(
            400,
            {},
            sample("mailgun", "error_400.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="400",
                error_message="'from' parameter is missing",
            ),
            id="400",
        ),
        pytest.param(
            401,
            {},
            sample("mailgun", "error_401.txt"),
            SendOutcome(
                verdict=Verdict.failed, error_code="401", error_message="Forbidden"
            ),
            id="401-plain-text",
        ),
        pytest.param(
            429,
            {
                "Retry-After": "Wed, 01 May 2024 12:00:10 GMT",
                "Date": "Wed, 01 May 2024 12:00:00 GMT",
            },
            b'{"message": "Too many requests"}',
            SendOutcome(
                verdict=Verdict.retry,
                error_code="429",
                error_message="Too many requests",
                retry_after_seconds=10.0,
            ),
            id="429-retry-after-http-date",
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
            b'{"message": "Internal error"}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="500",
                error_message="Internal error",
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
            b'{"message": "Queued. Thank you."}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="200",
                error_message="200 answer without a readable message id:"
                ' {"message": "Queued. Thank you."}',
            ),
            id="200-without-id",
        ),
    ],
)
def test_mailgun_interpret(
    status: int, headers: dict[str, str], body: bytes, expected: SendOutcome
) -> None:
    assert mailgun.interpret(status, headers, body) == expected


# --- SMTP (EmailMessage) --------------------------------------------------------------


def parsed(delivery: Delivery, *, date: datetime = SENT_AT) -> EmailMessage:
    built = email_message.build_reply(delivery, "help@acme.example", DOMAIN, date=date)
    message = message_from_bytes(bytes(built), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_build_reply_headers_and_body() -> None:
    message = parsed(REPLY)
    assert message["From"] == "support@acme.example"
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Re: Where is my refund?"
    assert message["Date"] == "Wed, 01 May 2024 12:30:00 +0000"
    assert message["Message-ID"] == OWN_ID
    assert message["In-Reply-To"] == "<CAF=abc123@mail.example.org>"
    assert message["References"].split() == THREAD.split()
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().splitlines() == ["Your refund is on its way."]


def test_build_reply_is_crlf_and_utf8() -> None:
    delivery = replace(REPLY, text="Grüße, Zoë 👋", subject="Rückerstattung")
    raw = bytes(
        email_message.build_reply(delivery, "h@acme.example", DOMAIN, date=SENT_AT)
    )
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "Re: Rückerstattung"
    assert message.get_content().splitlines() == ["Grüße, Zoë 👋"]


def test_build_reply_without_thread_and_sender() -> None:
    delivery = replace(REPLY, sender=None, reply_to=None, references=(), subject=None)
    message = parsed(
        delivery, date=datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    )
    assert message["From"] == "help@acme.example"
    assert message["Subject"] == "Re:"
    assert message["Date"] == "Wed, 01 May 2024 14:30:00 +0200"
    assert message["In-Reply-To"] is None
    assert message["References"] is None


def test_build_reply_long_line_is_wrapped_by_quoted_printable() -> None:
    message = parsed(replace(REPLY, text="ü" * 2000))
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.get_content().splitlines() == ["ü" * 2000]


def test_build_reply_long_references_fold_and_parse_back() -> None:
    refs = tuple(f"id{n}.{'x' * 30}@mail.example.org" for n in range(15))
    message = parsed(replace(REPLY, references=refs))
    assert message["References"].split() == [
        *(f"<{ref}>" for ref in refs),
        "<CAF=abc123@mail.example.org>",
    ]


@pytest.mark.parametrize(
    ("delivery", "error"),
    [
        pytest.param(
            replace(REPLY, to="ada@example.org\r\nBcc: x@y"),
            SendRefused,
            id="header-injection",
        ),
        pytest.param(replace(REPLY, text=""), SendRefused, id="blank"),
    ],
)
def test_build_reply_refuses(delivery: Delivery, error: type[Exception]) -> None:
    with pytest.raises(error):
        email_message.build_reply(delivery, "h@acme.example", DOMAIN, date=SENT_AT)


def test_build_reply_needs_an_aware_date() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        email_message.build_reply(
            REPLY,
            "h@acme.example",
            DOMAIN,
            date=datetime(2024, 5, 1),  # noqa: DTZ001
        )
