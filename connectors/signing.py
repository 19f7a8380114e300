"""`sha256=<hex>` HMAC body signatures, shared by Meta, the MIME relay and the chat widget."""

from __future__ import annotations

import hashlib
import hmac

from connectors.model import SignatureInvalid, WebhookRequest


def sign_body(body: bytes, secret: str) -> str:
    """The header value a sender puts on `body`: `sha256=` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def as_bytes(value: str) -> bytes:
    """Any header or field text as bytes, for `hmac.compare_digest`.

    compare_digest raises TypeError on a str that is not ASCII, and a header may
    carry anything (latin-1 garbage, lone surrogates); as bytes it simply differs.
    """
    return value.encode("utf-8", "surrogatepass")


def verify_body_signature(req: WebhookRequest, secret: str, header: str) -> None:
    """Raise unless `header` carries the HMAC-SHA256 of the raw body under `secret`."""
    given = req.headers.get(header)
    if not given:
        raise SignatureInvalid(f"{header} header is missing")
    expected = sign_body(req.body, secret).encode()
    if not hmac.compare_digest(as_bytes(given.strip().lower()), expected):
        raise SignatureInvalid(f"{header} does not match the request body")
