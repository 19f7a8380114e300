"""read_fields: a few form fields read without building the form, within bounds."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from connectors.form_fields import MAX_VALUE_BYTES, read_fields
from connectors.model import FormLimits, PayloadInvalid
from tests.bombs import mailgun_filename_bomb

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=XyZ"
WANTED = ("timestamp", "token", "signature")
LIMITS = FormLimits()


def multipart(*parts: str | bytes) -> bytes:
    body = b"".join(
        b"--XyZ\r\n" + (p.encode() if isinstance(p, str) else p) + b"\r\n"
        for p in parts
    )
    return body + b"--XyZ--\r\n"


def field(name: str, value: str) -> str:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            urlencode({"token": "t1", "body-plain": "x", "timestamp": "1"}).encode(),
            {"token": "t1", "timestamp": "1"},
            id="only-the-wanted",
        ),
        pytest.param(
            b"%74oken=t%2B1+2&signature",
            {"token": "t+1 2", "signature": ""},
            id="percent-encoded-name-and-blank-value-as-parse_qsl",
        ),
        pytest.param(
            b"&&token=t&" + b"%41" * 10_000 + b"=x",
            {"token": "t"},
            id="empty-pieces-and-a-long-name-skipped",
        ),
        pytest.param(b"token=%FF", {"token": "\ufffd"}, id="not-utf8-replaced"),
    ],
)
def test_urlencoded(body: bytes, expected: dict[str, str]) -> None:
    assert read_fields(body, URLENCODED, WANTED, LIMITS) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            multipart(field("token", "t1"), field("body-plain", "x" * 5000)),
            {"token": "t1"},
            id="only-the-wanted",
        ),
        pytest.param(
            multipart(
                'Content-Disposition: form-data; name="token"; filename="t.txt"'
                "\r\n\r\nnot a field",
                "Content-Type: text/plain\r\n\r\nno disposition",
                "Content-Disposition: form-data\r\n\r\nnameless",
                field("signature", "s"),
            ),
            {"signature": "s"},
            id="files-and-nameless-parts-skipped",
        ),
        pytest.param(
            multipart(
                "Content-Type: text/plain\r\n"
                'Content-Disposition: form-data; name="token"\r\n'
                'Content-Disposition: form-data; name="timestamp"\r\n\r\nt',
            ),
            {"token": "t"},
            id="first-content-disposition-counts",
        ),
        pytest.param(
            multipart(field("token", "t"))[: -len(b"\r\n--XyZ--\r\n")],
            {},
            id="part-cut-off-by-the-end-counts-for-nothing",
        ),
        pytest.param(
            multipart(
                "Content-Disposition: form-data; "
                + "a=b; " * 101
                + 'name="token"\r\n\r\nt'
            ),
            {},
            id="over-100-parameters-not-read",
        ),
    ],
)
def test_multipart(body: bytes, expected: dict[str, str]) -> None:
    assert read_fields(body, MULTIPART, WANTED, LIMITS) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "field_", "reason"),
    [
        pytest.param(
            b"token=a&token=b",
            URLENCODED,
            "token",
            "appears more than once",
            id="urlencoded-twice",
        ),
        pytest.param(
            multipart(field("token", "a"), field("token", "b")),
            MULTIPART,
            "token",
            "appears more than once",
            id="multipart-twice",
        ),
        pytest.param(
            b"token=" + b"t" * (MAX_VALUE_BYTES + 1),
            URLENCODED,
            "token",
            f"longer than {MAX_VALUE_BYTES} bytes",
            id="urlencoded-long-value",
        ),
        pytest.param(
            multipart(field("token", "t" * (MAX_VALUE_BYTES + 1))),
            MULTIPART,
            "token",
            f"longer than {MAX_VALUE_BYTES} bytes",
            id="multipart-long-value",
        ),
        pytest.param(
            b"a=b&" * 200,
            URLENCODED,
            "body",
            "more than 200 form fields",
            id="urlencoded-201-fields",
        ),
        pytest.param(
            multipart(*[field("a", "b")] * 201),
            MULTIPART,
            "body",
            "more than 200 form fields",
            id="multipart-201-parts",
        ),
        pytest.param(
            b"", MULTIPART, "body", "no form-data parts for the Content-Type boundary",
            id="empty-multipart",
        ),
        pytest.param(
            multipart(field("token", "t")),
            "multipart/form-data",
            "body",
            "no form-data parts for the Content-Type boundary",
            id="no-boundary",
        ),
        pytest.param(
            b"preamble\r\n" + multipart(field("token", "t")),
            MULTIPART,
            "body",
            "malformed form-data: ",  # then python-multipart's own words
            id="preamble",
        ),
        pytest.param(
            b"{}", "application/json", "content-type", "expected a form, got application/json",
            id="json",
        ),
    ],
)  # fmt: skip
def test_refuses(body: bytes, content_type: str, field_: str, reason: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        read_fields(body, content_type, WANTED, LIMITS)
    assert caught.value.field == field_
    assert caught.value.reason.startswith(reason)


def test_a_long_part_header_is_malformed_form_data() -> None:
    # The filename bomb's 368 KB header line: refused at 16 KiB, nothing decoded.
    bomb = mailgun_filename_bomb()
    with pytest.raises(PayloadInvalid, match="Maximum header size exceeded"):
        read_fields(bomb.body, bomb.headers["Content-Type"], WANTED, LIMITS)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"a=b&" * 150 + b"x=" + b"%41" * 3_000_000, URLENCODED, id="urlencoded"),
        pytest.param(
            multipart(*[field("a", "b")] * 150, field("x", "y" * 9_000_000)), MULTIPART,
            id="multipart",
        ),
    ],
)  # fmt: skip
def test_a_9_mb_form_is_read_in_milliseconds(body: bytes, content_type: str) -> None:
    started = time.perf_counter()
    assert read_fields(body, content_type, WANTED, LIMITS) == {}
    assert time.perf_counter() - started < 0.5  # about 10 ms; generous for CI


def test_limits_are_the_callers() -> None:
    with pytest.raises(PayloadInvalid, match="more than 2 form fields"):
        read_fields(b"a=1&b=2&c=3", URLENCODED, WANTED, FormLimits(max_fields=2))


def test_malformed_form_data_is_logged_by_app_only(caplog) -> None:
    # python-multipart warns before it raises; the reason is in the exception.
    with pytest.raises(PayloadInvalid, match="malformed form-data"):
        read_fields(b"preamble\r\n--XyZ\r\n", MULTIPART, WANTED, LIMITS)
    assert caplog.records == []
