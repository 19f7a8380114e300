"""Any signature header content ends in SignatureInvalid, never TypeError or UnicodeError.

Starlette decodes header bytes as latin-1, so a gateway or attacker can put any of
U+0000..U+00FF there; `hmac.compare_digest` raises TypeError on a non-ASCII str.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from connectors import chat, mailgun, meta, mime, twilio
from connectors.model import SignatureInvalid, WebhookRequest

SECRET = "secret"
AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://omniroute.example/webhooks/x"
GARBAGE = [
    pytest.param("sha256=\u00e9", id="latin-1-letter"),
    pytest.param("\xe9\xff\xfe\x80", id="latin-1-bytes"),
    pytest.param("sha256=" + "0" * 64 + "\u00a0", id="trailing-nbsp"),
    pytest.param("sha256=\x00" + "0" * 63, id="nul"),
    pytest.param("\udcff\ud800", id="lone-surrogates"),
    pytest.param("\U0001f600", id="emoji"),
    pytest.param("sha256=" + "\u0660" * 64, id="arabic-indic-digits"),
]
Verify = Callable[[WebhookRequest, str], None]
HEADER_SIGNED: list[tuple[str, Verify, str]] = [
    ("meta", meta.verify, "x-hub-signature-256"),
    ("chat", chat.verify, "x-omniroute-signature"),
    ("mime", mime.verify, "x-omniroute-signature"),
    ("twilio", twilio.verify, "x-twilio-signature"),
]


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(body=body, headers=headers, url=URL, received_at=AT)


@pytest.mark.parametrize("value", GARBAGE)
@pytest.mark.parametrize(
    ("verify", "header"),
    [pytest.param(verify, header, id=name) for name, verify, header in HEADER_SIGNED],
)
def test_header_garbage_is_signature_invalid(
    verify: Verify, header: str, value: str
) -> None:
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(request(b"Body=hi&From=%2B1", {header: value}), SECRET)


def mailgun_form(signature: str, token: str = "t" * 50) -> bytes:
    timestamp = str(int(AT.timestamp()))
    return urlencode(
        {"timestamp": timestamp, "token": token, "signature": signature}
    ).encode()


# A form field is UTF-8 on the wire, so it cannot carry a lone surrogate.
@pytest.mark.parametrize("value", [p for p in GARBAGE if p.id != "lone-surrogates"])
def test_mailgun_signature_field_garbage_is_signature_invalid(value: str) -> None:
    body = mailgun_form(value)
    headers = {"content-type": "application/x-www-form-urlencoded"}

    with pytest.raises(SignatureInvalid, match="does not match"):
        mailgun.verify(request(body, headers), SECRET)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("t" * 257, id="over-256"),
        pytest.param("t\x00t", id="nul"),
        pytest.param("t t", id="space"),
        pytest.param("t\u00e9", id="non-ascii"),
    ],
)
def test_mailgun_signed_token_that_cannot_be_a_replay_key_is_refused(
    token: str,
) -> None:
    timestamp = str(int(AT.timestamp()))
    body = mailgun_form(mailgun.sign(timestamp, token, SECRET), token)
    headers = {"content-type": "application/x-www-form-urlencoded"}

    with pytest.raises(SignatureInvalid, match="token is not 1 to 256 printable"):
        mailgun.verify(request(body, headers), SECRET)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://omniroute.example/\ud800", id="surrogate-in-url"),
        pytest.param("https://[::1/hook", id="bad-ipv6-host"),
    ],
)
def test_twilio_unusable_url_is_signature_invalid(url: str) -> None:
    req = WebhookRequest(
        body=b"Body=hi",
        headers={"x-twilio-signature": "x"},
        url=url,
        received_at=AT,
    )
    with pytest.raises(SignatureInvalid):
        twilio.verify(req, SECRET)


@pytest.mark.parametrize("token", GARBAGE)
def test_meta_handshake_with_garbage_token_is_refused(token: str) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "c"}
    assert meta.verify_handshake(params, "our-token") is None
