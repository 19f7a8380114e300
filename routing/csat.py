"""Reading a customer's answer to a satisfaction survey: a digit 1 to 5 (optionally
followed by a comment) or one to five stars. Anything else is an ordinary message."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMMENT = 2000
_STARS = "\u2605\u2b50\U0001f31f"  # black star, the emoji star, the glowing star
_SEPARATOR = r"(?:\s*[-\u2013\u2014:,.!;]\s*|\s+)"  # hyphen, en and em dash, ...
# The whole answer: optional "rating:"-like word, the score, then an optional comment
# set off by punctuation or a space ("4", "5/5", "3 - slow but fine", "★★★★").
_DIGIT = re.compile(
    r"\s*([1-5])(?:\s*/\s*5)?(?:\s*(?:stars?|sterne?|étoiles?))?"
    rf"(?:{_SEPARATOR}(?P<comment>\S.*))?\s*[.!]*\s*",
    re.IGNORECASE | re.DOTALL,
)
_STAR_RUN = re.compile(
    rf"\s*([{_STARS}](?:\uFE0F)?(?:\s?[{_STARS}](?:\uFE0F)?){{0,4}})"
    rf"(?:{_SEPARATOR}(?P<comment>\S.*))?\s*",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Rating:
    score: int  # 1..5
    comment: str | None


def parse_rating(text: str) -> Rating | None:
    """The rating in `text`, or None when it is not an answer to the survey."""
    if len(text) > MAX_COMMENT + 20:
        return None
    found = _DIGIT.fullmatch(text)
    if found is not None:
        return Rating(int(found.group(1)), _comment(found.group("comment")))
    found = _STAR_RUN.fullmatch(text)
    if found is not None:
        stars = sum(1 for ch in found.group(1) if ch in _STARS)
        return Rating(stars, _comment(found.group("comment")))
    return None


def _comment(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = text.strip()
    return stripped[:MAX_COMMENT] or None
