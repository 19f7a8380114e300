"""What a JSON value must be for PostgreSQL's jsonb to store it and for us to read it back:
finite numbers, no NUL characters, no lone surrogates, bounded depth and size."""

from __future__ import annotations

import math

import orjson

MAX_DEPTH = 32
MAX_BYTES = 64 * 1024


def check_storable(value: object, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ValueError naming the first thing jsonb (or a reader) would refuse."""
    _walk(value, 1, max_depth)
    try:  # orjson refuses lone surrogates and non-string keys, as jsonb would
        size = len(orjson.dumps(value))
    except TypeError as error:
        raise ValueError(f"not storable as JSON: {error}") from None
    if size > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES} bytes as JSON")


def _walk(value: object, depth: int, max_depth: int) -> None:
    if depth > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(str(key))
            _walk(item, depth + 1, max_depth)
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1, max_depth)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("text may not contain NUL (\\u0000)")
