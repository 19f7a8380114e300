"""Website chat widget sender: one signed JSON POST to the widget's delivery URL.

The body is `{"message_id", "visitor_id", "text", "attachments": [{"url",
"filename", "content_type"}], "reply_to"}` (`reply_to` only when set), sent byte for
byte as signed: `X-Omniroute-Signature: sha256=<hex HMAC-SHA256 of the body>` under
the chat secret, the same scheme inbound chat webhooks are verified with
(`connectors.chat`, `connectors.signing.sign_body`). No timestamp: this module
reads no clock, and the receiver can stamp arrival itself.

Any 2xx is `sent`. The provider id is the receiver's `id` when it answers a JSON
object with one, else our message id (the widget knows the message by it);
`interpret` needs that id passed in, or the outcome carries none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from connectors.signing import sign_body
from outbound import responses
from outbound.model import Delivery, HttpCall, SendOutcome, SendRefused, Verdict

__all__ = ["PROVIDER", "SIGNATURE_HEADER", "Config", "build", "interpret"]

PROVIDER: Final = "chat"
SIGNATURE_HEADER: Final = "X-Omniroute-Signature"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    delivery_url: str  # CHAT_DELIVERY_URL
    secret: str = field(repr=False)  # the chat webhook secret


def build(delivery: Delivery, config: Config) -> tuple[HttpCall, ...]:
    """The one signed POST for `delivery`."""
    if delivery.template is not None:
        raise SendRefused("the chat widget has no message templates; send text")
    if not delivery.text.strip() and not delivery.attachments:
        raise SendRefused("nothing to send: no text or attachment")
    body = json.dumps(_payload(delivery), ensure_ascii=False, separators=(",", ":"))
    content = body.encode()
    return (
        HttpCall(
            method="POST",
            url=config.delivery_url,
            headers=(
                ("Content-Type", "application/json"),
                (SIGNATURE_HEADER, sign_body(content, config.secret)),
            ),
            content=content,
        ),
    )


def interpret(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    message_id: str | None = None,
) -> SendOutcome:
    """The outcome of the POST; `message_id` (ours) is the id when none is answered."""
    document = responses.json_object(body)
    if responses.is_success(status):
        given = responses.text(responses.member(document, "id"))
        ids = tuple(filter(None, (given or message_id,)))
        return SendOutcome(verdict=Verdict.sent, provider_message_ids=ids)
    code = responses.text(responses.member(document, "code"))
    message = responses.text(responses.member(document, "detail"))
    message = message or responses.text(responses.member(document, "message"))
    return responses.by_status(
        status, headers, code=code, message=message or responses.excerpt(body)
    )


def _payload(delivery: Delivery) -> dict[str, object]:
    payload: dict[str, object] = {
        "message_id": delivery.message_id,
        "visitor_id": delivery.to,
        "text": delivery.text,
        "attachments": [
            {
                "url": link.url,
                "filename": link.filename,
                "content_type": link.content_type,
            }
            for link in delivery.attachments
        ],
    }
    if delivery.reply_to:
        payload["reply_to"] = delivery.reply_to
    return payload
