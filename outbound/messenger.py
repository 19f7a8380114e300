"""Messenger and Instagram sender (Meta Send API).

Messenger: https://developers.facebook.com/docs/messenger-platform/reference/send-api
`POST {graph_base}/{version}/{PAGE-ID}/messages` with the Page access token and
`{"recipient": {"id": PSID}, "messaging_type": "RESPONSE" | "MESSAGE_TAG",
"tag": "HUMAN_AGENT", "message": {"text"} | {"attachment": {"type", "payload":
{"url", "is_reusable"}}}}`; text is at most 2,000 characters
(https://developers.facebook.com/docs/messenger-platform/send-messages).

Instagram, through a Page linked to the account
(https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message):
the same endpoint and body with the IGSID as recipient; text is at most 1,000 bytes
of UTF-8, and an attachment payload is just its `url`. With Instagram Login instead
(no Page), set `graph_base` to `https://graph.instagram.com` and `account_id` to the
Instagram professional account id, with that account's token.

The token goes in an `Authorization: Bearer` header, not the query string, so it
stays out of access logs. A longer text goes as several messages; each attachment
is a message of its own, after the text. The answer is `{"recipient_id",
"message_id"}`; errors are Graph errors, read in `outbound.graph`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from outbound import graph, responses, text_split
from outbound.model import (
    Delivery,
    HttpCall,
    MediaLink,
    SendOutcome,
    SendRefused,
    Verdict,
)

__all__ = ["PROVIDERS", "Config", "build", "interpret"]

PROVIDERS: Final = ("messenger", "instagram")
_MESSAGING_TYPES: Final = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
_MESSENGER_TEXT: Final = 2000  # characters; counted as UTF-16 units to be safe
_INSTAGRAM_TEXT: Final = 1000  # bytes of UTF-8


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    account_id: str  # the Page id (Messenger, Instagram via a Page) or Instagram id
    access_token: str = field(repr=False)
    graph_base: str = "https://graph.facebook.com"
    version: str = "v21.0"


def build(delivery: Delivery, config: Config) -> tuple[HttpCall, ...]:
    """The Send API requests for `delivery`: text parts first, then each attachment."""
    if delivery.template is not None:
        raise SendRefused(f"{delivery.channel} has no message templates; send text")
    is_instagram = delivery.channel == "instagram"
    framing = _framing(delivery)
    messages: list[dict[str, object]] = [
        {"text": part} for part in _texts(delivery.text, is_instagram)
    ]
    messages += [_attachment(link, is_instagram) for link in delivery.attachments]
    if not messages:
        raise SendRefused("nothing to send: no text or attachment")
    return tuple(_call(config, {**framing, "message": message}) for message in messages)


def interpret(status: int, headers: Mapping[str, str], body: bytes) -> SendOutcome:
    """The outcome of one Send API answer."""
    document = responses.json_object(body)
    if not responses.is_success(status) or responses.member(document, "error"):
        return graph.error_outcome(status, headers, body)
    message_id = responses.text(responses.member(document, "message_id"))
    if message_id is None:
        return responses.no_message_id(status, body)
    return SendOutcome(verdict=Verdict.sent, provider_message_ids=(message_id,))


def _framing(delivery: Delivery) -> dict[str, object]:
    messaging_type = delivery.messaging_type or "RESPONSE"
    if messaging_type not in _MESSAGING_TYPES:
        raise SendRefused(f"unknown messaging_type {messaging_type!r}")
    framing: dict[str, object] = {
        "recipient": {"id": delivery.to},
        "messaging_type": messaging_type,
    }
    if messaging_type == "MESSAGE_TAG":
        if not delivery.tag:
            raise SendRefused("messaging_type MESSAGE_TAG needs a tag (HUMAN_AGENT)")
        framing["tag"] = delivery.tag
    return framing


def _texts(text: str, is_instagram: bool) -> tuple[str, ...]:
    if is_instagram:
        return text_split.split(text, _INSTAGRAM_TEXT, text_split.utf8_bytes)
    return text_split.split(text, _MESSENGER_TEXT, text_split.utf16_units)


def _attachment(link: MediaLink, is_instagram: bool) -> dict[str, object]:
    payload: dict[str, object] = {"url": link.url}
    if not is_instagram:
        payload["is_reusable"] = True
    return {
        "attachment": {"type": _attachment_type(link.content_type), "payload": payload}
    }


def _attachment_type(content_type: str | None) -> str:
    kind = (content_type or "").split("/")[0].strip().lower()
    return kind if kind in ("image", "video", "audio") else "file"


def _call(config: Config, body: dict[str, object]) -> HttpCall:
    base = config.graph_base.rstrip("/")
    return HttpCall(
        method="POST",
        url=f"{base}/{config.version}/{config.account_id}/messages",
        headers=(("Authorization", f"Bearer {config.access_token}"),),
        json=body,
    )
