"""connectors.json_body: depth bound before parsing, strings cleaned at load."""

from __future__ import annotations

import pytest

from connectors import json_body
from connectors.model import PayloadInvalid


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(nested(32), id="arrays-at-limit"),
        pytest.param('{"a":' * 31 + "[]" + "}" * 31, id="objects-at-limit"),
        pytest.param('["' + "[" * 1000 + '"]', id="brackets-in-a-string"),
        pytest.param('["\\"' + "{" * 100 + '"]', id="escaped-quote-in-a-string"),
        pytest.param("[" + "[]," * 500 + "[]]", id="wide-not-deep"),
        pytest.param("]" * 40 + "[" * 30, id="unbalanced-left-to-the-parser"),
    ],
)
def test_check_depth_accepts(text: str) -> None:
    json_body.check_depth(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(nested(33), id="arrays-over-limit"),
        pytest.param('{"a":' * 33 + "1" + "}" * 33, id="objects-over-limit"),
        pytest.param("[" * 100_000, id="unclosed-100k"),
        pytest.param(
            '["\\\\"' + "[" * 40 + "]" * 40 + "]", id="escaped-backslash-ends-string"
        ),
        pytest.param('"unterminated' + "[" * 40, id="unterminated-string"),
    ],
)
def test_check_depth_refuses(text: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        json_body.check_depth(text)

    assert caught.value.field == "body"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"a": "x\\u0000y"}', {"a": "xy"}, id="nul-escape"),
        pytest.param(b'{"a": "cut \\ud83d"}', {"a": "cut \ufffd"}, id="lone-surrogate"),
        pytest.param(b'{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}, id="pair-kept"),
        pytest.param(
            b'{"k\\u0000": ["\\udc00", {"n": 1}]}',
            {"k": ["\ufffd", {"n": 1}]},
            id="keys-and-nested",
        ),
        pytest.param(b"[1, 2.5, true, null]", [1, 2.5, True, None], id="scalars"),
    ],
)
def test_load_cleans_strings(body: bytes, expected: object) -> None:
    assert json_body.load(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff", id="not-utf8"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"a": ', id="truncated"),
        pytest.param(b"[" * 50 + b"]" * 50, id="too-deep"),
        pytest.param(b"1" * 5000, id="int-over-digit-limit"),
    ],
)
def test_load_refuses_body(body: bytes) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        json_body.load(body)

    assert caught.value.field == "body"
