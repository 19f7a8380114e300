"""Survey answers: what counts as a rating and what is an ordinary message."""

from __future__ import annotations

import pytest

from routing.csat import Rating, parse_rating

CASES = [
    ("5", Rating(5, None)),
    (" 4 ", Rating(4, None)),
    ("1.", Rating(1, None)),
    ("3 - slow but fine", Rating(3, "slow but fine")),
    ("4: quick answer, thanks", Rating(4, "quick answer, thanks")),
    ("5/5", Rating(5, None)),
    ("2 stars", Rating(2, None)),
    ("5 Sterne", Rating(5, None)),
    ("4 great service", Rating(4, "great service")),
    ("★★★★", Rating(4, None)),
    ("★★★★★ perfect", Rating(5, "perfect")),
    ("⭐⭐⭐", Rating(3, None)),
    ("⭐️⭐️", Rating(2, None)),
    ("★ ★ ★", Rating(3, None)),
    ("0", None),
    ("6", None),
    ("10", None),
    ("45", None),
    ("★★★★★★", None),
    ("my order 5 is missing", None),
    ("where is my parcel?", None),
    ("", None),
    ("5" + " x" * 2000, None),
]


@pytest.mark.parametrize(
    ("text", "expected"), CASES, ids=[c[0][:20] or "empty" for c in CASES]
)
def test_parse_rating(text: str, expected: Rating | None) -> None:
    assert parse_rating(text) == expected
