"""Splitting long replies: UTF-16 limits, emoji, natural break points, nothing lost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outbound.text_split import split, utf8_bytes, utf16_units

FAMILY = "👨\u200d👩\u200d👧"  # three emoji joined by ZWJ: 8 UTF-16 units
FLAG = "🇫🇷"  # two regional indicators
THUMB = "👍🏽"  # emoji and skin tone modifier


def units(parts: tuple[str, ...]) -> list[int]:
    return [utf16_units(part) for part in parts]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("hi", ("hi",), id="short"),
        pytest.param("", (), id="empty"),
        pytest.param(" \n\t ", (), id="blank"),
        pytest.param("a" * 4096, ("a" * 4096,), id="exactly-4096"),
        pytest.param("a" * 4097, ("a" * 4096, "a"), id="one-over-hard-cut"),
        pytest.param("😀" * 2048, ("😀" * 2048,), id="2048-emoji-are-4096-units"),
        pytest.param("😀" * 2049, ("😀" * 2048, "😀"), id="2049-emoji"),
        pytest.param(
            "a" + "😀" * 2048, ("a" + "😀" * 2047, "😀"), id="emoji-never-halved"
        ),
        pytest.param(
            "x" * 3000 + "\n\n" + "y" * 2000,
            ("x" * 3000, "y" * 2000),
            id="paragraph-break",
        ),
        pytest.param(
            "x" * 2500 + "\n" + "y" * 1000 + " " + "z" * 1000,
            ("x" * 2500, "y" * 1000 + " " + "z" * 1000),
            id="line-break-before-space",
        ),
        pytest.param(
            "x" * 100 + "\n\n" + "y" * 3000 + "\n" + "z" * 2000,
            ("x" * 100 + "\n\n" + "y" * 3000, "z" * 2000),
            id="late-line-break-beats-early-paragraph",
        ),
        pytest.param(
            "ab " + "x" * 5000,
            (("ab " + "x" * 5000)[:4096], "x" * 907),
            id="no-break-in-second-half-hard-cut",
        ),
        pytest.param(
            "a" * 4090 + FAMILY + "b",
            ("a" * 4090, FAMILY + "b"),
            id="zwj-sequence-kept-whole",
        ),
        pytest.param(
            "a" * 4093 + FLAG + "b",
            ("a" * 4093, FLAG + "b"),
            id="flag-pair-kept-whole",
        ),
        pytest.param(
            "a" * 4093 + THUMB + "b",
            ("a" * 4093, THUMB + "b"),
            id="skin-tone-kept-with-emoji",
        ),
        pytest.param(
            "a" * 4095 + "e\u0301" + "b",
            ("a" * 4095, "e\u0301b"),
            id="combining-accent-kept-with-letter",
        ),
    ],
)
def test_split_telegram_limit(text: str, expected: tuple[str, ...]) -> None:
    parts = split(text, 4096, utf16_units)
    assert parts == expected
    assert all(size <= 4096 for size in units(parts))


def test_split_words_rejoin() -> None:
    text = " ".join(f"word{n}" for n in range(2000))  # 16,889 characters
    parts = split(text, 4096, utf16_units)
    assert len(parts) == 5
    assert " ".join(parts) == text
    assert all(size <= 4096 for size in units(parts))


def test_split_flags_in_a_row_cut_between_pairs() -> None:
    text = FLAG * 1025  # 4,100 units
    parts = split(text, 4096, utf16_units)
    assert parts == (FLAG * 1024, FLAG)


def test_split_utf8_bytes() -> None:
    parts = split("é" * 600, 1000, utf8_bytes)
    assert parts == ("é" * 500, "é" * 100)


def test_split_refuses_a_limit_below_one_character() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        split("abc", 3)


@given(text=st.text(), limit=st.integers(min_value=4, max_value=40))
def test_split_keeps_every_visible_character_within_the_limit(
    text: str, limit: int
) -> None:
    parts = split(text, limit, utf16_units)
    assert all(utf16_units(part) <= limit for part in parts)
    assert all(part.strip() for part in parts)
    visible = "".join(char for char in text if not char.isspace())
    assert "".join(char for char in "".join(parts) if not char.isspace()) == visible
