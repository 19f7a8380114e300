"""Mailgun sender: an email reply through the Messages API.

https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages
`POST {api_base}/v3/{domain}/messages`, HTTP basic auth `api:<key>`, form fields
`from`, `to`, `subject`, `text`; `h:<Header>` adds a MIME header and `v:<name>` a
custom variable that comes back in every delivery event of the message
(https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-http).
We set `h:Message-Id` to our own `<{message_id}@{domain}>` so the reply threads,
and `v:omniroute-message-id` so delivery events find our message. Threading and
subject rules are in `outbound.email_reply`. Attachments are sent as links at the
end of the text: Mailgun takes attachments as uploaded files, and this module
fetches nothing.

Answers (https://documentation.mailgun.com/docs/mailgun/quickstart-guide/responses):
200 `{"id": "<...>", "message": "Queued. Thank you."}`, whose id (brackets removed,
the form inbound email stores) is the provider id; a 400 carries `{"message"}`;
401/403 are authentication errors; 429 is a rate limit to retry; 5xx per
`outbound.responses`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formataddr
from typing import Final

from outbound import email_reply, responses
from outbound.model import Delivery, HttpCall, SendOutcome, SendRefused, Verdict

__all__ = ["MESSAGE_ID_VARIABLE", "PROVIDER", "Config", "build", "interpret"]

PROVIDER: Final = "mailgun"
MESSAGE_ID_VARIABLE: Final = "omniroute-message-id"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    domain: str  # the sending domain, also the right side of our Message-IDs
    api_key: str = field(repr=False)
    api_base: str = "https://api.mailgun.net"  # https://api.eu.mailgun.net in the EU
    default_from: str | None = None  # EMAIL_FROM: when the delivery names no address
    from_name: str | None = None  # display name put before the address


def build(delivery: Delivery, config: Config) -> tuple[HttpCall, ...]:
    """The one Messages request for `delivery`; raises SendRefused for what cannot go."""
    if delivery.template is not None:
        raise SendRefused("email has no message templates; send text")
    text = email_reply.body_with_links(delivery.text, delivery.attachments)
    if not text.strip():
        raise SendRefused("nothing to send: no text or attachment")
    form = [
        ("from", _sender(delivery, config)),
        ("to", delivery.to),
        ("subject", email_reply.reply_subject(delivery.subject)),
        ("text", text),
        (
            "h:Message-Id",
            email_reply.own_message_id(delivery.message_id, config.domain),
        ),
        *_threading(delivery),
        (f"v:{MESSAGE_ID_VARIABLE}", delivery.message_id),
    ]
    return (
        HttpCall(
            method="POST",
            url=f"{config.api_base.rstrip('/')}/v3/{config.domain}/messages",
            form=tuple(form),
            auth=("api", config.api_key),
        ),
    )


def interpret(status: int, headers: Mapping[str, str], body: bytes) -> SendOutcome:
    """The outcome of one Messages answer."""
    document = responses.json_object(body)
    if responses.is_success(status):
        given = responses.text(responses.member(document, "id"))
        message_id = email_reply.bare_id(given) if given else None
        if message_id is None:
            return responses.no_message_id(status, body)
        return SendOutcome(verdict=Verdict.sent, provider_message_ids=(message_id,))
    message = responses.text(responses.member(document, "message"))
    return responses.by_status(
        status, headers, message=message or responses.excerpt(body)
    )


def _sender(delivery: Delivery, config: Config) -> str:
    address = delivery.sender or config.default_from
    if not address:
        raise SendRefused("no address to send from (delivery.sender or default_from)")
    return formataddr((config.from_name, address)) if config.from_name else address


def _threading(delivery: Delivery) -> list[tuple[str, str]]:
    pairs = []
    if parent := email_reply.in_reply_to(delivery):
        pairs.append(("h:In-Reply-To", parent))
    if chain := email_reply.references(delivery):
        pairs.append(("h:References", " ".join(chain)))
    return pairs
