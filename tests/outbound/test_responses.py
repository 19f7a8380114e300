"""Reading HTTP answers: status classes, Retry-After, JSON bodies."""

from __future__ import annotations

import pytest

from outbound import responses
from outbound.model import Verdict


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"Retry-After": "120"}, 120.0, id="seconds"),
        pytest.param({"retry-after": " 0 "}, 0.0, id="zero-lower-case-name"),
        pytest.param({"RETRY-AFTER": "soon"}, None, id="garbage"),
        pytest.param({"Retry-After": "-5"}, None, id="negative"),
        pytest.param(
            {
                "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT",
                "Date": "Wed, 21 Oct 2015 07:27:30 GMT",
            },
            30.0,
            id="http-date-against-date-header",
        ),
        pytest.param(
            {
                "Retry-After": "Wed, 21 Oct 2015 07:27:00 GMT",
                "Date": "Wed, 21 Oct 2015 07:27:30 GMT",
            },
            0.0,
            id="http-date-in-the-past",
        ),
        pytest.param(
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
            None,
            id="http-date-without-date-header",
        ),
        pytest.param(
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT", "Date": "yesterday"},
            None,
            id="unparsable-date-header",
        ),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert responses.retry_after(headers) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"a": 1}', {"a": 1}, id="object"),
        pytest.param(b"[1]", None, id="array"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"\xff\xfe{", None, id="bad-bytes"),
        pytest.param(b"[" * 100_000, None, id="too-deep"),
    ],
)
def test_json_object(body: bytes, expected: object) -> None:
    assert responses.json_object(body) == expected


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        pytest.param(400, Verdict.failed, id="400"),
        pytest.param(401, Verdict.failed, id="401"),
        pytest.param(403, Verdict.failed, id="403"),
        pytest.param(404, Verdict.failed, id="404"),
        pytest.param(413, Verdict.failed, id="413"),
        pytest.param(429, Verdict.retry, id="429"),
        pytest.param(500, Verdict.unknown, id="500"),
        pytest.param(501, Verdict.unknown, id="501"),
        pytest.param(502, Verdict.unknown, id="502"),
        pytest.param(503, Verdict.retry, id="503"),
        pytest.param(504, Verdict.unknown, id="504"),
        pytest.param(302, Verdict.unknown, id="redirect"),
        pytest.param(599, Verdict.unknown, id="unnamed-5xx"),
    ],
)
def test_by_status(status: int, verdict: Verdict) -> None:
    outcome = responses.by_status(status, {"Retry-After": "9"})
    assert outcome.verdict is verdict
    assert outcome.error_code == str(status)
    assert outcome.retry_after_seconds == (9.0 if verdict is Verdict.retry else None)


def test_by_status_phrases() -> None:
    assert responses.by_status(418, {}).error_message == "418 I'm a Teapot"
    assert responses.by_status(599, {}).error_message == "HTTP 599"


def test_excerpt_is_bounded() -> None:
    shown = responses.excerpt(b"x" * 10_000)
    assert shown is not None
    assert len(shown) == 300
