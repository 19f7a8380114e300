"""JSON webhook bodies read defensively: bounded nesting, clean strings, no surprises."""

from __future__ import annotations

import json
import re
from typing import Final

from connectors.model import PayloadInvalid
from connectors.sanitize import clean_text

__all__ = ["MAX_DEPTH", "check_depth", "load"]

# Provider documents nest about ten levels deep (WhatsApp: object, entry, change,
# value, message, interactive, reply); 32 leaves room for additions.
MAX_DEPTH: Final = 32
# A JSON string (escapes included, unrolled so matching stays linear) or a bracket.
_TOKEN: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def load(body: bytes) -> object:
    """The JSON value of `body`, every string (keys too) passed through clean_text.

    PayloadInvalid("body") for bytes that are not UTF-8, not JSON, or nested deeper
    than MAX_DEPTH. Lone surrogates written as `\\ud83d` escapes (a JavaScript string
    cut inside an emoji) are replaced by U+FFFD instead of failing the message.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadInvalid("body", "not valid UTF-8") from exc
    check_depth(text)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PayloadInvalid("body", f"malformed JSON: {exc}") from exc
    return _cleaned(document)


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Raise PayloadInvalid("body") if arrays and objects nest deeper than `limit`.

    Brackets inside strings do not count. Malformed JSON may pass; the parser then
    refuses it, without recursing more than `limit` levels.
    """
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for token in _TOKEN.finditer(text):
        bracket = token[0]
        if bracket in ("[", "{"):
            depth += 1
            if depth > limit:
                raise PayloadInvalid("body", f"JSON nested deeper than {limit} levels")
        elif bracket in ("]", "}"):
            depth -= 1


def _cleaned(value: object) -> object:
    # Recursion is bounded by check_depth.
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): _cleaned(item) for key, item in value.items()}
    return value
