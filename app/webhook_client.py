"""Build correctly signed webhook requests, as each provider would send them.

Used by `omniroute demo`, the benchmarks and the tests; signing reuses the
connectors' own functions so there is one implementation of each scheme.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from connectors import mailgun, twilio
from connectors.signing import sign_body


@dataclass(frozen=True, slots=True)
class SignedRequest:
    path: str
    body: bytes
    headers: dict[str, str]


def twilio_request(
    public_base_url: str, auth_token: str, params: Sequence[tuple[str, str]]
) -> SignedRequest:
    path = "/webhooks/twilio/sms"
    signature = twilio.expected_signature(
        public_base_url + path, list(params), auth_token
    )
    return SignedRequest(
        path,
        urlencode(list(params)).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def meta_request(app_secret: str, document: Mapping[str, object]) -> SignedRequest:
    body = json.dumps(document).encode()
    return SignedRequest(
        "/webhooks/meta",
        body,
        {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign_body(body, app_secret),
        },
    )


def chat_request(secret: str, document: Mapping[str, object]) -> SignedRequest:
    body = json.dumps(document).encode()
    return SignedRequest(
        "/webhooks/chat",
        body,
        {
            "Content-Type": "application/json",
            "X-Omniroute-Signature": sign_body(body, secret),
        },
    )


def mime_request(secret: str, raw_message: bytes) -> SignedRequest:
    return SignedRequest(
        "/webhooks/email/mime",
        raw_message,
        {
            "Content-Type": "message/rfc822",
            "X-Omniroute-Signature": sign_body(raw_message, secret),
        },
    )


def mailgun_request(
    signing_key: str,
    fields: Mapping[str, str],
    *,
    timestamp: int | None = None,
    token: str | None = None,
) -> SignedRequest:
    """Urlencoded Mailgun forward, signed with a fresh timestamp and token."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = token or secrets.token_hex(25)
    signed = {
        **fields,
        "timestamp": stamp,
        "token": nonce,
        "signature": mailgun.sign(stamp, nonce, signing_key),
    }
    return SignedRequest(
        "/webhooks/email/mailgun",
        urlencode(signed).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
