"""connectors.sanitize: what every connector's output goes through before app/ stores it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors import sanitize
from connectors.model import (
    Attachment,
    Channel,
    EmailHeaders,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    Parsed,
    PayloadInvalid,
)
from tests.connectors.storable import problems

PLUS_14 = timezone(timedelta(hours=14))
MINUS_14 = timezone(timedelta(hours=-14))
MESSAGE = InboundMessage(
    provider="chat",
    provider_message_id="cm_1",
    channel=Channel.chat,
    sender=IdentityClaim(kind=IdentityKind.chat, value="vis_1", name="Ana"),
    text="hi",
)
LONG_KEY = "k" * 1025


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param("plain", "plain", id="ascii-unchanged"),
        pytest.param("a\x00b\x00", "ab", id="nul-removed"),
        pytest.param("\x00", "", id="only-nul"),
        pytest.param("caf\u00e9 \U0001f600", "caf\u00e9 \U0001f600", id="unicode-kept"),
        pytest.param("cut \ud83d", "cut \ufffd", id="lone-high-surrogate"),
        pytest.param("\ude00 x", "\ufffd x", id="lone-low-surrogate"),
        pytest.param("\udcff\x00\ud800", "\ufffd\ufffd", id="surrogateescape-and-nul"),
        pytest.param("tab\tand\nnewline", "tab\tand\nnewline", id="controls-kept"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert sanitize.clean_text(raw) == clean


@pytest.mark.parametrize(
    ("sent_at", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param(
            datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            id="offset-to-utc",
        ),
        pytest.param(datetime(2024, 5, 1, 12, 0), None, id="naive"),  # noqa: DTZ001
        pytest.param(
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(1970, 1, 1, tzinfo=UTC),
            id="epoch",
        ),
        pytest.param(
            datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), None, id="before-epoch"
        ),
        pytest.param(datetime(1, 1, 1, tzinfo=PLUS_14), None, id="year-1-plus-14"),
        pytest.param(datetime(1, 1, 1, tzinfo=UTC), None, id="year-1-utc"),
        pytest.param(
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_14),
            None,
            id="year-9999-minus-14",
        ),
        pytest.param(
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            id="year-9999-utc-kept-app-falls-back",
        ),
    ],
)
def test_sent_at(sent_at: datetime | None, expected: datetime | None) -> None:
    result = sanitize.sent_at(sent_at)
    assert result == expected
    assert result is None or result.tzinfo is UTC


@pytest.mark.parametrize(
    ("changes", "attribute", "expected"),
    [
        pytest.param({"text": "a\x00b"}, "text", "ab", id="text-nul"),
        pytest.param({"full_text": "\ud800"}, "full_text", "\ufffd", id="full-text"),
        pytest.param(
            {"provider_message_id": "m\x001"}, "provider_message_id", "m1", id="id-nul"
        ),
        pytest.param(
            {"provider_message_id": "k" * 1024},
            "provider_message_id",
            "k" * 1024,
            id="id-at-limit",
        ),
        pytest.param(
            {"subject": "s" * 3000}, "subject", "s" * 2000, id="subject-truncated"
        ),
        pytest.param({"locale": "pt-BR\x00"}, "locale", "pt-BR", id="locale-nul"),
        pytest.param({"locale": "x" * 100}, "locale", "x" * 35, id="locale-truncated"),
        pytest.param(
            {"content_type": "t" * 100}, "content_type", "t" * 32, id="type-truncated"
        ),
        pytest.param(
            {"content_type": "\x00"}, "content_type", "text", id="type-empty-is-text"
        ),
        pytest.param({"recipient": "+1\x00555"}, "recipient", "+1555", id="recipient"),
        pytest.param(
            {
                "sender": IdentityClaim(
                    kind=IdentityKind.chat, value="v\x00", name="\ud83dN" * 200
                )
            },
            "sender",
            IdentityClaim(
                kind=IdentityKind.chat, value="v", name=("\ufffdN" * 200)[:256]
            ),
            id="sender-value-and-name",
        ),
        pytest.param(
            {
                "linked_identities": (
                    IdentityClaim(
                        kind=IdentityKind.email, value="a\x00@x", verified=False
                    ),
                )
            },
            "linked_identities",
            (IdentityClaim(kind=IdentityKind.email, value="a@x", verified=False),),
            id="linked-identity",
        ),
        pytest.param(
            {
                "attachments": (
                    Attachment(
                        filename="a\r\n.png\x00",
                        content_type="image/png\x00; x=\n1",
                        size=2**63,
                        url="https://x/\ud800",
                        provider_media_id="\x00m",
                    ),
                )
            },
            "attachments",
            (
                Attachment(
                    filename="a.png",
                    content_type="image/png; x=1",
                    url="https://x/\ufffd",
                    provider_media_id="m",
                ),
            ),
            id="attachment-fields",
        ),
        pytest.param(
            {
                "attachments": (
                    Attachment(filename="f" * 300, content_type="c" * 300, size=-1),
                )
            },
            "attachments",
            (Attachment(filename="f" * 255, content_type="c" * 255),),
            id="attachment-lengths-and-negative-size",
        ),
        pytest.param(
            {
                "email": EmailHeaders(
                    message_id="m\x00@x",
                    in_reply_to=("\x00",),
                    references=("a@x", LONG_KEY, "b\ud800@x"),
                )
            },
            "email",
            EmailHeaders(
                message_id="m@x", in_reply_to=(), references=("a@x", "b\ufffd@x")
            ),
            id="email-headers",
        ),
        pytest.param(
            {"email": EmailHeaders(references=tuple(f"r{i}@x" for i in range(150)))},
            "email",
            EmailHeaders(references=("r0@x", *(f"r{i}@x" for i in range(51, 150)))),
            id="references-root-and-newest",
        ),
    ],
)
def test_message_cleans_and_bounds(
    changes: dict[str, object], attribute: str, expected: object
) -> None:
    cleaned = sanitize.message(replace(MESSAGE, **changes))  # type: ignore[arg-type]

    assert getattr(cleaned, attribute) == expected
    assert problems(cleaned) == []


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        pytest.param(
            {"provider_message_id": LONG_KEY},
            "provider_message_id",
            "too long",
            id="id",
        ),
        pytest.param(
            {"provider_message_id": "\u00e9" * 513},
            "provider_message_id",
            "too long",
            id="id-counted-in-bytes",
        ),
        pytest.param(
            {"provider_message_id": "\x00"},
            "provider_message_id",
            "is empty",
            id="id-only-nul",
        ),
        pytest.param(
            {"sender": IdentityClaim(kind=IdentityKind.phone, value="+1" * 600)},
            "sender.value",
            "too long",
            id="sender",
        ),
        pytest.param(
            {
                "linked_identities": (
                    IdentityClaim(kind=IdentityKind.email, value="a@x"),
                    IdentityClaim(kind=IdentityKind.phone, value=LONG_KEY),
                )
            },
            "linked_identities[1].value",
            "too long",
            id="linked-identity",
        ),
        pytest.param(
            {"email": EmailHeaders(message_id=LONG_KEY)},
            "email.message_id",
            "too long",
            id="email-message-id",
        ),
    ],
)
def test_message_refuses_keys_it_must_not_cut(
    changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        sanitize.message(replace(MESSAGE, **changes))  # type: ignore[arg-type]

    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_message_is_idempotent_and_keeps_clean_input() -> None:
    once = sanitize.message(replace(MESSAGE, text="a\x00\ud800", locale="x" * 40))

    assert sanitize.message(once) == once
    assert sanitize.message(MESSAGE) == MESSAGE


def test_single_wraps_one_clean_message() -> None:
    assert sanitize.single(replace(MESSAGE, text="\x00hi")) == Parsed(
        messages=(MESSAGE,)
    )
