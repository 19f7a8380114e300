"""Telegram Bot API sender: text, photos and documents.

https://core.telegram.org/bots/api#sendmessage
`POST {api_base}/bot{token}/sendMessage` with JSON `{"chat_id", "text"}` and, for
the first message, `reply_parameters: {"message_id", "allow_sending_without_reply":
true}` (https://core.telegram.org/bots/api#replyparameters). No `parse_mode`: the
agent's text goes as plain text, so a stray `*` or `<` cannot make Telegram refuse
("can't parse entities") and lose the message.

A text is 1-4,096 characters, and Telegram counts entity offsets in UTF-16 code
units (https://core.telegram.org/bots/api#messageentity), so parts are measured in
UTF-16 units (an emoji outside the BMP is 2): a longer text goes as several
messages cut at paragraph, line or word breaks (`outbound.text_split`).
Attachments follow the text, one message each, by URL: `sendPhoto` for JPEG, PNG and
WebP, else `sendDocument` (https://core.telegram.org/bots/api#sending-files; by URL,
Telegram fetches at most 5 MB for photos, 20 MB for other files, and sends only
GIF, PDF and ZIP as documents). The token is part of the URL: do not log URLs.

Answers (https://core.telegram.org/bots/api#making-requests): `{"ok": true,
"result": Message}`; errors `{"ok": false, "error_code", "description",
"parameters": {"retry_after", "migrate_to_chat_id"}}`
(https://core.telegram.org/bots/api#responseparameters). The provider id is
`"{chat_id}:{message_id}"`, the form the inbound connector deduplicates by, since
a Telegram message id is unique only within its chat.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from outbound import responses, text_split
from outbound.model import (
    Delivery,
    HttpCall,
    MediaLink,
    SendOutcome,
    SendRefused,
    Verdict,
)

__all__ = ["PROVIDER", "Config", "build", "interpret"]

PROVIDER: Final = "telegram"
MAX_TEXT: Final = 4096  # UTF-16 code units
_PHOTO: Final = frozenset({"image/jpeg", "image/png", "image/webp"})
_INTEGER: Final = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    token: str = field(repr=False)
    api_base: str = "https://api.telegram.org"


def build(delivery: Delivery, config: Config) -> tuple[HttpCall, ...]:
    """The Bot API requests for `delivery`: text parts first, then each attachment."""
    if delivery.template is not None:
        raise SendRefused("Telegram has no message templates; send text")
    chat_id = _chat_id(delivery.to)
    texts = text_split.split(delivery.text, MAX_TEXT, text_split.utf16_units)
    payloads: list[tuple[str, dict[str, object]]] = [
        ("sendMessage", {"chat_id": chat_id, "text": part}) for part in texts
    ]
    payloads += [_file(chat_id, link) for link in delivery.attachments]
    if not payloads:
        raise SendRefused("nothing to send: no text or attachment")
    reply = _reply_parameters(delivery.reply_to)
    if reply is not None:
        payloads[0][1]["reply_parameters"] = reply
    base = f"{config.api_base.rstrip('/')}/bot{config.token}"
    return tuple(
        HttpCall(method="POST", url=f"{base}/{method}", json=payload)
        for method, payload in payloads
    )


def interpret(status: int, headers: Mapping[str, str], body: bytes) -> SendOutcome:
    """The outcome of one Bot API answer; the id is `"{chat_id}:{message_id}"`."""
    document = responses.json_object(body)
    if responses.is_success(status) and responses.member(document, "ok") is True:
        return _sent(document, status, body)
    code = responses.text(responses.member(document, "error_code"))
    message = _description(document) or responses.excerpt(body)
    if responses.is_success(status):  # a 2xx that is not ok: it may have gone
        return SendOutcome(
            verdict=Verdict.unknown,
            error_code=code or str(status),
            error_message=message,
        )
    wait = responses.member(document, "parameters", "retry_after")
    return responses.by_status(
        status,
        headers,
        code=code,
        message=message,
        retry_seconds=_seconds(wait),
    )


def _sent(
    document: Mapping[str, object] | None, status: int, body: bytes
) -> SendOutcome:
    message_id = responses.member(document, "result", "message_id")
    chat_id = responses.member(document, "result", "chat", "id")
    if not (_is_integer(message_id) and _is_integer(chat_id)):
        return responses.no_message_id(status, body)
    return SendOutcome(
        verdict=Verdict.sent, provider_message_ids=(f"{chat_id}:{message_id}",)
    )


def _description(document: Mapping[str, object] | None) -> str | None:
    description = responses.text(responses.member(document, "description"))
    migrated = responses.member(document, "parameters", "migrate_to_chat_id")
    if description and _is_integer(migrated):
        return f"{description} (the group is now chat {migrated})"
    return description


def _chat_id(to: str) -> int | str:
    # A numeric id goes as a number; "@channelusername" as text.
    return int(to) if _INTEGER.fullmatch(to) else to


def _reply_parameters(reply_to: str | None) -> dict[str, object] | None:
    """`reply_parameters` for an answered message given as `chat:message` or `message`."""
    if not reply_to:
        return None
    message_id = reply_to.rpartition(":")[2]
    if not _INTEGER.fullmatch(message_id):
        return None  # not a Telegram id: send without quoting rather than not at all
    return {"message_id": int(message_id), "allow_sending_without_reply": True}


def _file(chat_id: int | str, link: MediaLink) -> tuple[str, dict[str, object]]:
    essence = (link.content_type or "").split(";")[0].strip().lower()
    if essence in _PHOTO:
        return "sendPhoto", {"chat_id": chat_id, "photo": link.url}
    return "sendDocument", {"chat_id": chat_id, "document": link.url}


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
