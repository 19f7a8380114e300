"""Twilio Programmable Messaging sender: SMS, MMS and WhatsApp via Twilio.

Create a Message: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
`POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP
basic auth (Account SID, auth token). `Body` is up to 1,600 characters (counted here
in UTF-16 units, as UCS-2 SMS encoding counts an emoji as two), so a longer text goes
as several messages cut at paragraph, line or word breaks; `MediaUrl`
repeats, up to 10 per message; WhatsApp carries one media per message here, so each
further attachment is its own message. WhatsApp templates are Content API templates:
`ContentSid` plus `ContentVariables`, a JSON object `{"1": ..., "2": ...}`
(https://www.twilio.com/docs/content/send-templates-created-with-the-content-template-builder).

Answers (https://www.twilio.com/docs/usage/twilios-response): 201 with the Message
resource, whose `sid` is the provider id; errors are `{"code", "message",
"more_info", "status"}` (https://www.twilio.com/docs/api/errors). A 429 (20429) was
never processed and is safe to retry (https://www.twilio.com/docs/api/errors/20429).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from outbound import responses, text_split
from outbound.model import (
    Delivery,
    HttpCall,
    SendOutcome,
    SendRefused,
    Template,
    Verdict,
)

__all__ = ["PROVIDER", "Config", "build", "interpret"]

PROVIDER: Final = "twilio"
_WHATSAPP: Final = "whatsapp:"
_MAX_BODY: Final = 1600
_MAX_MEDIA: Final = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    account_sid: str
    auth_token: str = field(repr=False)
    api_base: str = "https://api.twilio.com"
    status_callback_url: str | None = None  # our status webhook
    default_from: str | None = None  # when the delivery names no sender number
    # Template name -> Content SID; "name:language" is looked up before "name".
    content_sids: Mapping[str, str] = field(default_factory=dict)


def build(delivery: Delivery, config: Config) -> tuple[HttpCall, ...]:
    """The Messages requests for `delivery`; raises SendRefused for what cannot go."""
    is_whatsapp = delivery.channel == "whatsapp"
    base = _addressing(delivery, config, is_whatsapp)
    if delivery.template is not None:
        return (
            _call(config, [*base, *_template(delivery, config, delivery.template)]),
        )
    texts = list(text_split.split(delivery.text, _MAX_BODY, text_split.utf16_units))
    media = [link.url for link in delivery.attachments]
    groups = [[url] for url in media] if is_whatsapp else _at_most(media, delivery)
    if not texts and not groups:
        raise SendRefused("nothing to send: no text, template or attachment")
    # Text first; the last part carries the (first) media; further media follow.
    messages: list[tuple[str | None, list[str]]] = [(part, []) for part in texts[:-1]]
    messages.append((texts[-1] if texts else None, groups[0] if groups else []))
    messages.extend((None, urls) for urls in groups[1:])
    return tuple(
        _call(config, [*base, *_content(body, urls)]) for body, urls in messages
    )


def _content(body: str | None, urls: list[str]) -> list[tuple[str, str]]:
    return [*((("Body", body),) if body else ()), *(("MediaUrl", url) for url in urls)]


def interpret(status: int, headers: Mapping[str, str], body: bytes) -> SendOutcome:
    """The outcome of one Messages answer."""
    document = responses.json_object(body)
    if responses.is_success(status):
        sid = responses.text(responses.member(document, "sid"))
        if sid is None:
            return responses.no_message_id(status, body)
        return SendOutcome(verdict=Verdict.sent, provider_message_ids=(sid,))
    code = responses.text(responses.member(document, "code"))
    message = responses.text(responses.member(document, "message"))
    return responses.by_status(
        status, headers, code=code, message=message or responses.excerpt(body)
    )


def _addressing(
    delivery: Delivery, config: Config, is_whatsapp: bool
) -> list[tuple[str, str]]:
    sender = delivery.sender or config.default_from
    if not sender:
        raise SendRefused(
            "no Twilio number to send from (delivery.sender or default_from)"
        )
    pairs = [
        ("To", _address(delivery.to, is_whatsapp)),
        ("From", _address(sender, is_whatsapp)),
    ]
    if config.status_callback_url:
        pairs.append(("StatusCallback", config.status_callback_url))
    return pairs


def _address(number: str, is_whatsapp: bool) -> str:
    bare = number.removeprefix(_WHATSAPP)
    return f"{_WHATSAPP}{bare}" if is_whatsapp else bare


def _template(
    delivery: Delivery, config: Config, template: Template
) -> list[tuple[str, str]]:
    if delivery.channel != "whatsapp":
        raise SendRefused("templates go on WhatsApp only; SMS takes the text")
    if delivery.attachments:
        raise SendRefused("a template message carries no further attachments")
    sid = config.content_sids.get(f"{template.name}:{template.language}")
    sid = sid or config.content_sids.get(template.name)
    if sid is None:
        raise SendRefused(
            f"no Twilio Content SID for template {template.name!r} ({template.language})"
        )
    pairs = [("ContentSid", sid)]
    if template.variables:
        variables = {
            str(number): value for number, value in enumerate(template.variables, 1)
        }
        pairs.append(("ContentVariables", json.dumps(variables, ensure_ascii=False)))
    return pairs


def _at_most(media: list[str], delivery: Delivery) -> list[list[str]]:
    if len(media) > _MAX_MEDIA:
        raise SendRefused(
            f"Twilio takes at most {_MAX_MEDIA} attachments on {delivery.channel}"
        )
    return [media] if media else []


def _call(config: Config, form: list[tuple[str, str]]) -> HttpCall:
    url = f"{config.api_base.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
    return HttpCall(
        method="POST",
        url=url,
        form=tuple(form),
        auth=(config.account_sid, config.auth_token),
    )
