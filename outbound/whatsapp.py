"""WhatsApp Cloud API sender (Meta): text, template and media messages.

Send messages: https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages
`POST {graph_base}/{version}/{phone_number_id}/messages` with a bearer token and a JSON
body `{"messaging_product": "whatsapp", "recipient_type": "individual", "to", "type",
<type>: {...}}`, plus `context.message_id` to quote the answered message; the body
shape is the one Meta's own SDK builds (WhatsApp/WhatsApp-Nodejs-SDK, src/api/messages.ts).
- text: `{"body"}`, at most 4,096 characters; a longer text goes as several messages.
- template: `{"name", "language": {"code"}, "components": [{"type": "body",
  "parameters": [{"type": "text", "text"}, ...]}]}`
  (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates).
- media by URL: `image` (JPEG, PNG), `video` (MP4, 3GPP), `audio`, else `document`
  with its filename; one message per attachment, after the text
  (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types).
Only the first message quotes the answered one.

The answer is `{"messaging_product", "contacts": [{"input", "wa_id"}], "messages":
[{"id": "wamid..."}]}`; errors are Graph errors, read in `outbound.graph`.
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
    Template,
    Verdict,
)

__all__ = ["PROVIDER", "Config", "build", "interpret"]

PROVIDER: Final = "whatsapp"
_MAX_TEXT: Final = 4096
_IMAGE: Final = frozenset({"image/jpeg", "image/png"})
_VIDEO: Final = frozenset({"video/mp4", "video/3gpp"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    phone_number_id: str  # the business number's id in the Cloud API
    access_token: str = field(repr=False)
    graph_base: str = "https://graph.facebook.com"
    version: str = "v21.0"


def build(delivery: Delivery, config: Config) -> tuple[HttpCall, ...]:
    """The messages requests for `delivery`: text parts first, then each attachment."""
    if delivery.template is not None:
        if delivery.attachments:
            raise SendRefused("a template message carries no further attachments")
        contents = [("template", _template(delivery.template))]
    else:
        texts = text_split.split(delivery.text, _MAX_TEXT, text_split.utf16_units)
        contents = [("text", {"body": part}) for part in texts]
        contents += [_media(link) for link in delivery.attachments]
    if not contents:
        raise SendRefused("nothing to send: no text, template or attachment")
    return tuple(
        _call(delivery, config, kind, content, is_first=index == 0)
        for index, (kind, content) in enumerate(contents)
    )


def interpret(status: int, headers: Mapping[str, str], body: bytes) -> SendOutcome:
    """The outcome of one messages answer."""
    document = responses.json_object(body)
    if not responses.is_success(status) or responses.member(document, "error"):
        return graph.error_outcome(status, headers, body)
    messages = responses.member(document, "messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = responses.text(responses.member(first, "id"))
    if wamid is None:
        return responses.no_message_id(status, body)
    return SendOutcome(verdict=Verdict.sent, provider_message_ids=(wamid,))


def _template(template: Template) -> dict[str, object]:
    content: dict[str, object] = {
        "name": template.name,
        "language": {"code": template.language},
    }
    if template.variables:
        parameters = [{"type": "text", "text": value} for value in template.variables]
        content["components"] = [{"type": "body", "parameters": parameters}]
    return content


def _media(link: MediaLink) -> tuple[str, dict[str, object]]:
    kind = _media_kind(link.content_type)
    content: dict[str, object] = {"link": link.url}
    if kind == "document" and link.filename:
        content["filename"] = link.filename
    return kind, content


def _media_kind(content_type: str | None) -> str:
    essence = (content_type or "").split(";")[0].strip().lower()
    if essence in _IMAGE:
        return "image"
    if essence in _VIDEO:
        return "video"
    if essence.startswith("audio/"):
        return "audio"
    return "document"


def _call(
    delivery: Delivery,
    config: Config,
    kind: str,
    content: object,
    *,
    is_first: bool,
) -> HttpCall:
    body: dict[str, object] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": delivery.to,
        "type": kind,
        kind: content,
    }
    if is_first and delivery.reply_to:
        body["context"] = {"message_id": delivery.reply_to}
    base = config.graph_base.rstrip("/")
    return HttpCall(
        method="POST",
        url=f"{base}/{config.version}/{config.phone_number_id}/messages",
        headers=(("Authorization", f"Bearer {config.access_token}"),),
        json=body,
    )
