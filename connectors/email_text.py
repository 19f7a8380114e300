"""Email helpers shared by the Mailgun and MIME connectors: bodies, headers, addresses."""

from __future__ import annotations

import re
from copy import copy
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy, default
from email.utils import parsedate_to_datetime
from typing import Final, cast

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from mailparser_reply.parser import EmailMessage as ReplyMessage

from connectors.identity import canonical_email
from connectors.model import EmailHeaders, IdentityClaim, IdentityKind

# Reply-header and signature patterns from mail-parser-reply. Danish and Swedish are
# left out: their signature patterns ("Tak", "Kh", "/\w+") have no word boundary
# and would cut ordinary lines such as "Take a look".
_REPLY_LANGUAGES: Final = ("en", "de", "fr", "es", "it", "nl")
_MSG_ID: Final = re.compile(r"<([^<>\s]+)>")  # RFC 5322 §3.6.4 msg-id
_FOLD: Final = re.compile(r"\r\n?|\n")
_BLANK_RUN: Final = re.compile(r"\n{3,}")
_LEADING_BLANK_LINES: Final = re.compile(r"\A(?:[ \t]*\n)+")
# inscriptis' "strict" profile is Firefox's default rendering; its "relaxed" one
# indents every nested <div>, and mail clients nest divs for every line.
_HTML_CSS: Final = CSS_PROFILES["strict"]


class _TolerantPolicy(EmailPolicy):
    """`policy.default`, except that a header the stdlib cannot parse reads as raw text."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        try:
            header: str = super().header_fetch_parse(name, value)
        # The header parser raises IndexError, AttributeError, UnboundLocalError ...
        # on malformed input, e.g. Exchange's "<[id@microsoft.com]>" Message-IDs
        # (https://github.com/python/cpython/issues/151857); degrade, don't crash.
        except Exception:
            raw = _FOLD.sub("", value)
            return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return header


_PARSER: Final = BytesParser(policy=_TolerantPolicy())
# An attached message is re-serialized in RFC 5322 canonical form (CRLF, §2.1)
# with its header fields exactly as they arrived (no refolding or re-encoding).
_CANONICAL: Final = default.clone(refold_source="none", linesep="\r\n")


def read_message(raw: bytes) -> EmailMessage:
    """Parse MIME bytes; a malformed header degrades to its raw text instead of raising."""
    # EmailPolicy's message_factory is EmailMessage; the stubs can't see it through
    # a subclass of the (at runtime unsubscriptable) generic EmailPolicy.
    return cast(EmailMessage, _PARSER.parsebytes(raw))


def header_text(message: Message, name: str) -> str | None:
    """The decoded value of the first `name` header, or None when absent."""
    value = message.get(name)
    return None if value is None else str(value)


def part_text(part: Message) -> str:
    """A text part's decoded body; undeclared or unknown charsets are read as UTF-8."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    try:
        return data.decode(part.get_content_charset() or "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def part_bytes(part: Message) -> bytes:
    """A leaf part's transfer-decoded bytes; an attached message as RFC 5322 bytes."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    attached = cast(Message, part.get_payload(0))  # a message/* part holds one message
    return attached.as_bytes(policy=_CANONICAL)


def html_to_text(html: str) -> str:
    """Readable plain text for an HTML body (links kept inline, images dropped)."""
    text = get_text(html, _html_config())
    lines = "\n".join(line.rstrip() for line in text.split("\n"))
    return _trim(_BLANK_RUN.sub("\n\n", lines))


def strip_quoted_reply(text: str) -> str:
    """The newest part of an email body: no quoted history, reply header or signature."""
    stripped = _newest_reply(text)
    # The parser trims every line; when it removed nothing, keep the indentation.
    unchanged = "\n".join(line.strip() for line in text.split("\n")).strip()
    return _trim(text) if stripped == unchanged else stripped


def reply_and_full(full: str, stripped: str | None = None) -> tuple[str, str | None]:
    """`text` (provider-stripped or ours) and `full_text` (None when it adds nothing)."""
    full = _trim(full)
    if stripped and stripped.strip():
        text = _trim(stripped)
    else:
        text = strip_quoted_reply(full)
    return text, (full if full != text else None)


def message_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs in a Message-ID, In-Reply-To or References value, brackets removed."""
    if not value:
        return ()
    found = _MSG_ID.findall(value)
    if found:
        return tuple(found)
    # Bare ids (some relays drop the brackets), separated by whitespace or commas.
    return tuple(
        t.strip("<>") for t in value.replace(",", " ").split() if t.strip("<>")
    )


def email_headers(
    message_id: str | None, in_reply_to: str | None, references: str | None
) -> EmailHeaders:
    """Threading headers as EmailHeaders; the first id wins for Message-ID."""
    own = message_ids(message_id)
    return EmailHeaders(
        message_id=own[0] if own else None,
        in_reply_to=message_ids(in_reply_to),
        references=message_ids(references),
    )


def parse_date(value: str | None) -> datetime | None:
    """An aware datetime for an RFC 5322 date, or None when absent or unparsable."""
    if not value:
        return None
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    # RFC 5322 §3.3: "-0000" is UTC with the sender's local offset unknown.
    return sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC)


def email_claim(value: str | None) -> IdentityClaim | None:
    """An email IdentityClaim for an address header value, None when it has no address."""
    if not value:
        return None
    address, name = canonical_email(value)
    if "@" not in address:
        return None
    return IdentityClaim(kind=IdentityKind.email, value=address, name=name)


def _html_config() -> ParserConfig:
    """Links inline as [text](url), images dropped (no alt text)."""
    # inscriptis attaches each conversion's output canvas to the profile's "body"
    # element, so every call gets its own copy: conversions may run in threads.
    css = {**_HTML_CSS, "body": copy(_HTML_CSS["body"])}
    return ParserConfig(css=css, display_links=True)


def _trim(text: str) -> str:
    """LF line endings, no blank lines before the text, no whitespace after it."""
    return _LEADING_BLANK_LINES.sub("", text.replace("\r\n", "\n")).rstrip()


def _newest_reply(text: str) -> str:
    # EmailMessage rather than EmailReplyParser: only it takes keep_hyphen_lists,
    # without which "- item" lines are taken for a signature and cut off.
    message = ReplyMessage(
        text=text, languages=list(_REPLY_LANGUAGES), keep_hyphen_lists=True
    )
    newest = message.read().replies[0]
    body: str = newest.body
    content: str = newest.content
    return _drop_trailing_quote(body) or content or text.strip()


def _drop_trailing_quote(text: str) -> str:
    """Remove a trailing block of ">" lines that came without a reply header."""
    lines = text.split("\n")
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    return "\n".join(lines).strip()
