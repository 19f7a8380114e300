"""Cutting a long reply into parts a provider accepts, at the most natural places.

A part ends at a paragraph break, else a line break, else a space, as long as that
leaves the part at least half full; only a text with no such place is cut hard,
and then never inside a character (Python strings hold code points, so a UTF-16
surrogate pair is never split) nor between a character and what joins or
modifies it (combining marks, variation selectors, ZWJ sequences, skin tones,
flag pairs). The separator at a cut is dropped; nothing else is changed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Final

_ZWJ: Final = "\u200d"
_MODIFIERS: Final = frozenset("\u200d\ufe0e\ufe0f\u20e3")
_SKIN_TONES: Final = range(0x1F3FB, 0x1F400)
_REGIONAL: Final = range(0x1F1E6, 0x1F200)
_TAGS: Final = range(0xE0020, 0xE0080)  # subdivision flags
_MAX_BACKOFF: Final = 32  # characters given back to keep a grapheme whole

Measure = Callable[[str], int]


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units, as Telegram and JavaScript count (emoji are 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def split(text: str, limit: int, measure: Measure = len) -> tuple[str, ...]:
    """Parts of `text`, each at most `limit` by `measure`; blank parts are dropped."""
    if limit < 4:  # one character is at most 4 UTF-8 bytes
        raise ValueError("limit must be at least 4")
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        fit = _fit(rest, limit, measure)
        cut, skip = _break(rest, fit)
        parts.append(rest[:cut])
        rest = rest[cut + skip :]
    parts.append(rest)
    return tuple(part for part in parts if part.strip())


def _fit(text: str, limit: int, measure: Measure) -> int:
    """The longest prefix length whose measure is within `limit` (binary search)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    if low == 0:
        raise ValueError(f"not even one character fits in {limit}")
    return low


def _break(text: str, fit: int) -> tuple[int, int]:
    """Where to cut within `text[:fit]`, and how many separator characters to drop."""
    floor = fit // 2
    for separator in ("\n\n", "\n"):
        at = text.rfind(separator, floor, fit)
        if at > 0 and text[:at].strip():
            return at, len(separator)
    for at in range(fit - 1, floor, -1):
        if text[at].isspace() and text[:at].strip():
            return at, 1
    return _whole_grapheme(text, fit), 0


def _whole_grapheme(text: str, fit: int) -> int:
    for at in range(fit, max(fit - _MAX_BACKOFF, 0), -1):
        if _may_cut(text, at):
            return at
    return fit  # one unbroken cluster longer than the back-off: cut it regardless


def _may_cut(text: str, at: int) -> bool:
    before, after = text[at - 1], text[at]
    if before == _ZWJ or after in _MODIFIERS:
        return False
    code = ord(after)
    if code in _SKIN_TONES or code in _TAGS:
        return False
    if code in _REGIONAL and ord(before) in _REGIONAL:
        return _regional_run(text, at) % 2 == 0
    return not unicodedata.category(after).startswith("M")


def _regional_run(text: str, at: int) -> int:
    """How many regional indicators directly precede `at` (flags come in pairs)."""
    count = 0
    while at - count - 1 >= 0 and ord(text[at - count - 1]) in _REGIONAL:
        count += 1
    return count
