"""Raw RFC 5322 messages that our mail server pipes to HTTP (`message/rfc822` bodies).

Format: https://www.rfc-editor.org/rfc/rfc5322 (headers), RFC 2045-2047 (MIME parts,
transfer encodings, encoded words), RFC 2183 (Content-Disposition).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from email.message import EmailMessage, Message, MIMEPart
from typing import Final

from connectors import sanitize
from connectors.email_text import (
    email_claim,
    email_headers,
    header_text,
    html_to_text,
    parse_date,
    part_bytes,
    part_text,
    read_message,
    reply_and_full,
)
from connectors.model import (
    Attachment,
    Channel,
    InboundMessage,
    Parsed,
    PayloadInvalid,
    WebhookRequest,
)
from connectors.signing import verify_body_signature

SIGNATURE_HEADER: Final = "x-omniroute-signature"


def verify(req: WebhookRequest, secret: str) -> None:
    """Check X-Omniroute-Signature: `sha256=` + hex HMAC-SHA256 of the raw body."""
    verify_body_signature(req, secret, SIGNATURE_HEADER)


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The one email in the body; text prefers text/plain over converted HTML."""
    message = _read(body)
    sender = email_claim(header_text(message, "From"))
    if sender is None:
        raise PayloadInvalid("From", "missing or without an email address")
    body_part = message.get_body(preferencelist=("plain", "html"))
    text, full_text = reply_and_full(_body_text(body_part))
    threading = email_headers(
        header_text(message, "Message-ID"),
        header_text(message, "In-Reply-To"),
        header_text(message, "References"),
    )
    inbound = InboundMessage(
        provider="mime",
        provider_message_id=threading.message_id or _content_id(body),
        channel=Channel.email,
        sender=sender,
        text=text,
        full_text=full_text,
        subject=header_text(message, "Subject") or None,
        sent_at=parse_date(header_text(message, "Date")),
        attachments=tuple(_attachments(message, body_part)),
        email=threading,
        recipient=_recipient(message),
    )
    return sanitize.single(inbound)


def _read(body: bytes) -> EmailMessage:
    if not body.strip():
        raise PayloadInvalid("body", "empty")
    message = read_message(body)
    if not message.keys():
        raise PayloadInvalid("body", "not an RFC 5322 message: no header fields")
    return message


def _content_id(body: bytes) -> str:
    # Message-ID is only a SHOULD (RFC 5322 §3.6.4); the same bytes piped twice
    # must still deduplicate, so the id falls back to a hash of the message.
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _body_text(part: Message | None) -> str:
    if part is None:
        return ""
    text = part_text(part)
    return html_to_text(text) if part.get_content_subtype() == "html" else text


def _recipient(message: Message) -> str | None:
    """The first To address: the mailbox of ours the message was sent to."""
    claim = email_claim(header_text(message, "To"))
    return None if claim is None else claim.value


def _attachments(
    message: EmailMessage, body_part: Message | None
) -> Iterator[Attachment]:
    for part in _leaves(message):
        if part is not body_part and _is_attachment(part):
            yield _attachment(part)


def _leaves(part: MIMEPart) -> Iterator[MIMEPart]:
    """Non-multipart parts, depth first; an attached message/rfc822 is one leaf."""
    if part.get_content_maintype() != "multipart":
        yield part
        return
    for child in part.iter_parts():
        yield from _leaves(child)


def _is_attachment(part: Message) -> bool:
    # RFC 2183: "attachment" always counts and "inline" (signature logos, images
    # the HTML shows) never does; a part without a disposition counts if named.
    disposition = part.get_content_disposition()
    if disposition == "attachment":
        return True
    return disposition is None and part.get_filename() is not None


def _attachment(part: Message) -> Attachment:
    content = part_bytes(part)
    return Attachment(
        filename=part.get_filename() or None,
        content_type=part.get_content_type(),
        size=len(content),
        content=content,
    )
