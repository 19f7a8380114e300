"""combine() and SendRefused, added to the send model."""

from __future__ import annotations

import pytest

from outbound.model import SendOutcome, SendRefused, Verdict, combine

SENT_A = SendOutcome(verdict=Verdict.sent, provider_message_ids=("a",))
SENT_B = SendOutcome(verdict=Verdict.sent, provider_message_ids=("b",))
RETRY = SendOutcome(verdict=Verdict.retry, error_code="429", retry_after_seconds=2.0)
UNKNOWN = SendOutcome(verdict=Verdict.unknown, error_code="502")


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        pytest.param([SENT_A], SENT_A, id="one"),
        pytest.param(
            [SENT_A, SENT_B],
            SendOutcome(verdict=Verdict.sent, provider_message_ids=("a", "b")),
            id="all-sent-ids-in-order",
        ),
        pytest.param(
            [SENT_A, RETRY, SENT_B],
            SendOutcome(
                verdict=Verdict.retry,
                provider_message_ids=("a",),
                error_code="429",
                retry_after_seconds=2.0,
            ),
            id="first-not-sent-decides-keeps-earlier-ids",
        ),
        pytest.param([UNKNOWN, RETRY], UNKNOWN, id="unknown-first"),
    ],
)
def test_combine(outcomes: list[SendOutcome], expected: SendOutcome) -> None:
    assert combine(outcomes) == expected


def test_combine_needs_an_outcome() -> None:
    with pytest.raises(ValueError, match="at least one"):
        combine([])


def test_send_refused_carries_its_reason() -> None:
    refused = SendRefused("no sender")
    assert refused.reason == "no sender"
    assert str(refused) == "no sender"
