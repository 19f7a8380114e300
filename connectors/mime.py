"""Raw RFC 5322 messages that our mail server pipes to HTTP (`message/rfc822` bodies).

Format: https://www.rfc-editor.org/rfc/rfc5322 (headers), RFC 2045-2047 (MIME parts,
transfer encodings, encoded words), RFC 2183 (Content-Disposition).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from email.message import Message
from typing import Final

from connectors import sanitize
from connectors.email_text import (
    MAX_ATTACHMENTS,
    attachment_filename,
    email_claim,
    email_headers,
    header_raw,
    header_text,
    html_to_text,
    parse_date,
    part_bytes,
    part_text,
    read_message,
    reply_and_full,
    subparts,
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
_BODY_TYPES: Final = ("plain", "html")  # text/plain preferred over converted HTML


def verify(req: WebhookRequest, secret: str) -> None:
    """Check X-Omniroute-Signature: `sha256=` + hex HMAC-SHA256 of the raw body."""
    verify_body_signature(req, secret, SIGNATURE_HEADER)


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """The one email in the body; text prefers text/plain over converted HTML."""
    message = _read(body)
    sender = email_claim(header_raw(message, "From"))
    if sender is None:
        raise PayloadInvalid("From", "missing or without an email address")
    body_part = _body(message)
    text, full_text = reply_and_full(_body_text(body_part))
    threading = email_headers(
        header_raw(message, "Message-ID"),
        header_raw(message, "In-Reply-To"),
        header_raw(message, "References"),
    )
    inbound = InboundMessage(
        provider="mime",
        provider_message_id=threading.message_id or _content_id(body),
        channel=Channel.email,
        sender=sender,
        text=text,
        full_text=full_text,
        subject=header_text(message, "Subject") or None,
        sent_at=parse_date(header_raw(message, "Date")),
        attachments=tuple(_attachments(message, body_part)),
        email=threading,
        recipient=_recipient(message),
    )
    return sanitize.single(inbound)


def _read(body: bytes) -> Message:
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
    claim = email_claim(header_raw(message, "To"), "To")
    return None if claim is None else claim.value


def _body(message: Message) -> Message | None:
    """The best text part, as `EmailMessage.get_body(("plain", "html"))` finds it."""
    best: tuple[int, Message] | None = None
    for rank, part in _body_candidates(message):
        if best is None or rank < best[0]:
            best = (rank, part)
    return None if best is None else best[1]


def _body_candidates(part: Message) -> Iterator[tuple[int, Message]]:
    # RFC 2046 §5.1: an attachment is never the body; of multipart/related
    # (RFC 2387 §3.2) only the root, the `start` part or else the first, counts.
    if part.get_content_disposition() == "attachment":
        return
    maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
    if maintype == "text":
        if subtype in _BODY_TYPES:
            yield _BODY_TYPES.index(subtype), part
        return
    if maintype != "multipart" or not part.is_multipart():
        return
    children = subparts(part)
    if subtype == "related" and children:
        start = part.get_param("start")
        roots = [c for c in children if start and c.get("content-id") == start]
        children = roots[:1] or children[:1]
    for child in children:
        yield from _body_candidates(child)


def _attachments(message: Message, body_part: Message | None) -> Iterator[Attachment]:
    found = (p for p in _leaves(message) if p is not body_part and _is_attachment(p))
    for count, part in enumerate(found, start=1):
        if count > MAX_ATTACHMENTS:
            raise PayloadInvalid("attachments", f"more than {MAX_ATTACHMENTS}")
        yield _attachment(part)


def _leaves(part: Message) -> Iterator[Message]:
    """Non-multipart parts, depth first; an attached message/rfc822 is one leaf."""
    # The parser refused trees deeper than MAX_PART_DEPTH, so recursion is bounded.
    if part.get_content_maintype() != "multipart":
        yield part
        return
    for child in subparts(part):
        yield from _leaves(child)


def _is_attachment(part: Message) -> bool:
    # RFC 2183: "attachment" always counts and "inline" (signature logos, images
    # the HTML shows) never does; a part without a disposition counts if named.
    disposition = part.get_content_disposition()
    if disposition == "attachment":
        return True
    return disposition is None and attachment_filename(part) is not None


def _attachment(part: Message) -> Attachment:
    content = part_bytes(part)
    return Attachment(
        filename=attachment_filename(part),
        content_type=part.get_content_type(),
        size=len(content),
        content=content,
    )
