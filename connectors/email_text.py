"""Email helpers shared by the Mailgun and MIME connectors: bodies, headers, addresses."""

from __future__ import annotations

import binascii
import codecs
import re
from copy import copy
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32, Policy, compat32, default
from email.utils import collapse_rfc2231_value, parsedate_to_datetime
from typing import Final, TypeVar, cast, overload

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from mailparser_reply.parser import EmailMessage as ReplyMessage

from connectors.identity import canonical_email
from connectors.model import EmailHeaders, IdentityClaim, IdentityKind, PayloadInvalid

# Bounds on hostile input: past one, parsing stops with PayloadInvalid (422)
# instead of building or walking a huge tree. Constants until configuration
# plumbing comes; real mail stays far below each of them.
MAX_PART_DEPTH: Final = 20  # multipart nesting; clients nest 3 to 5 deep
MAX_PARTS: Final = 500  # MIME parts below the top, form-data parts included
MAX_ATTACHMENTS: Final = 100  # attachments in one message
MAX_ENCODED_WORDS: Final = 200  # RFC 2047 encoded words in one header or filename
# Parameters in one Content-Type or Content-Disposition: the stdlib splits them
# in quadratic time, and the parser itself asks a multipart for its boundary.
# RFC 2231 continuations of a long filename take a few dozen.
MAX_HEADER_PARAMS: Final = 100
# RFC 2046 §5.1.1 allows 70; the parser compiles each boundary into a regex.
MAX_BOUNDARY_CHARS: Final = 200
# mail-parser-reply takes about 0.6 s a MiB of text (5 s for a 9 MiB body), and
# one regex call of it holds the GIL for a third of that, stalling the event loop
# even from a parse thread. Quoted history is looked for only this far in (25 ms);
# a newest reply is a few KiB, and full_text keeps everything.
MAX_REPLY_SEARCH_CHARS: Final = 64 * 1024
_PARAM_HEADERS: Final = frozenset({"content-type", "content-disposition"})
# Codecs that are no mail charset: punycode decodes in quadratic time, idna and
# "undefined" raise whatever the error handler. They are read as UTF-8.
_NOT_MAIL_CHARSETS: Final = frozenset({"punycode", "idna", "undefined"})
_T = TypeVar("_T")

# Reply-header and signature patterns from mail-parser-reply. Danish and Swedish are
# left out: their signature patterns ("Tak", "Kh", "/\w+") have no word boundary
# and would cut ordinary lines such as "Take a look".
_REPLY_LANGUAGES: Final = ("en", "de", "fr", "es", "it", "nl")
_MSG_ID: Final = re.compile(r"<([^<>\s]+)>")  # RFC 5322 §3.6.4 msg-id
_FOLD: Final = re.compile(r"\r\n?|\n")
_BLANK_RUN: Final = re.compile(r"\n{3,}")
_LEADING_BLANK_LINES: Final = re.compile(r"\A(?:[ \t]*\n)+")
# RFC 2047 §2 encoded-word; decoded wherever it stands, as mail clients do.
_ENCODED_WORD: Final = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
# inscriptis' "strict" profile is Firefox's default rendering; its "relaxed" one
# indents every nested <div>, and mail clients nest divs for every line.
_HTML_CSS: Final = CSS_PROFILES["strict"]


class _Part(Message):
    """A compat32 message that stops the parse past the nesting and part limits."""

    def __init__(self, policy: Policy[Message] = compat32) -> None:
        super().__init__(policy)
        self.depth = 0
        self.root = self
        self.descendants = 0  # counted on the root only

    def attach(self, payload: Message | str) -> None:
        # FeedParser attaches each part to its parent before it reads the part's
        # content, so a hostile tree is refused as soon as it crosses a limit.
        if isinstance(payload, _Part):
            payload.depth, payload.root = self.depth + 1, self.root
            self.root.descendants += 1
            if payload.depth > MAX_PART_DEPTH:
                raise PayloadInvalid(
                    "body", f"MIME parts nested deeper than {MAX_PART_DEPTH}"
                )
            if self.root.descendants > MAX_PARTS:
                raise PayloadInvalid("body", f"more than {MAX_PARTS} MIME parts")
        super().attach(payload)

    @overload
    def get_boundary(self, failobj: None = None) -> str | None: ...
    @overload
    def get_boundary(self, failobj: _T) -> str | _T: ...
    def get_boundary(self, failobj: _T | None = None) -> str | _T | None:
        """Message.get_boundary, decoding an RFC 2231 boundary only in a mail charset."""
        # The parser calls this for every multipart, before any limit of ours.
        value = self.get_param("boundary", None)
        if value is None:
            return failobj
        if isinstance(value, tuple):
            value = (_codec(value[0]), value[1], value[2])
        boundary = collapse_rfc2231_value(value).rstrip()  # RFC 2046 §5.1.1
        if len(boundary) > MAX_BOUNDARY_CHARS:
            reason = f"boundary longer than {MAX_BOUNDARY_CHARS} characters"
            raise PayloadInvalid("Content-Type", reason)
        return boundary


class _RawHeaders(Compat32):
    """compat32 that returns header values as they are stored; nothing is decoded.

    `policy.default` re-parses a header into an object on every access (about
    1 ms per email); here only the headers we read are decoded, by header_text.
    """

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if name.lower() in _PARAM_HEADERS and value.count(";") > MAX_HEADER_PARAMS:
            raise PayloadInvalid(name, f"more than {MAX_HEADER_PARAMS} parameters")
        return name, value

    def header_fetch_parse(self, name: str, value: str) -> str:
        # compat32 wraps a value with 8-bit bytes in a Header; keep the str.
        return value


_PARSER: Final = BytesParser(policy=_RawHeaders(message_factory=_Part))
# An attached message is re-serialized in RFC 5322 canonical form (CRLF, §2.1)
# with its header fields exactly as they arrived (no refolding or re-encoding).
_CANONICAL: Final = default.clone(refold_source="none", linesep="\r\n")


def read_message(raw: bytes) -> Message:
    """Parse MIME bytes (compat32); PayloadInvalid past the nesting and size limits."""
    return _PARSER.parsebytes(raw)


def subparts(part: Message) -> list[Message]:
    """The parts of a multipart (or the message of a message/rfc822 part), else []."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def header_raw(message: Message, name: str) -> str | None:
    """The first `name` header unfolded, 8-bit bytes read as UTF-8; None when absent.

    RFC 2047 encoded words are kept: an address header is split into addresses
    before its display names are decoded (see email_claim).
    """
    value = message.get(name)
    return None if value is None else decode_8bit(_FOLD.sub("", str(value))).strip()


def header_text(message: Message, name: str) -> str | None:
    """The decoded value of the first `name` header, or None when absent."""
    value = header_raw(message, name)
    return None if value is None else decode_words(value, name)


def decode_8bit(value: str) -> str:
    """Text the parser read with surrogate escapes (raw 8-bit bytes), as UTF-8."""
    # RFC 6532 allows UTF-8 in header fields; other 8-bit bytes become U+FFFD.
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decode_words(value: str, field: str) -> str:
    """`value` with its RFC 2047 encoded words decoded; at most MAX_ENCODED_WORDS."""
    if "=?" not in value:
        return value
    pieces: list[str] = []
    end, after_word = 0, False
    for count, match in enumerate(_ENCODED_WORD.finditer(value), start=1):
        if count > MAX_ENCODED_WORDS:
            reason = f"more than {MAX_ENCODED_WORDS} RFC 2047 encoded words"
            raise PayloadInvalid(field, reason)
        gap = value[end : match.start()]
        decoded = _decode_word(*match.groups())
        # RFC 2047 §6.2: white space between two encoded words is not displayed.
        if not (after_word and decoded is not None and (not gap or gap.isspace())):
            pieces.append(gap)
        pieces.append(match[0] if decoded is None else decoded)
        end, after_word = match.end(), decoded is not None
    pieces.append(value[end:])
    return "".join(pieces)


def header_param(part: Message, param: str, header: str = "content-type") -> str | None:
    """A header parameter's text (RFC 2231 decoded, unfolded); None when absent."""
    value = part.get_param(param, None, header)
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, %-decoded text)
        value = (_codec(value[0]), value[1], value[2])
    return decode_8bit(_FOLD.sub("", collapse_rfc2231_value(value)))


def attachment_filename(part: Message) -> str | None:
    """A part's filename (RFC 2183, else Content-Type `name`), RFC 2231/2047 decoded."""
    # Message.get_filename, with the charset checks of header_param.
    name = header_param(part, "filename", "content-disposition")
    if name is None:
        name = header_param(part, "name")
    return None if name is None else decode_words(name.strip(), "filename") or None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in a declared charset; none, unknown or not a text codec: UTF-8."""
    try:
        return data.decode(_codec(charset), errors="replace")
    except (LookupError, ValueError):  # e.g. "base64" is not a text encoding
        return data.decode("utf-8", errors="replace")


def _codec(charset: str | None) -> str:
    try:
        name = codecs.lookup(charset.strip()).name if charset else "utf-8"
    except (LookupError, ValueError):
        return "utf-8"
    return "utf-8" if name in _NOT_MAIL_CHARSETS else name


def _decode_word(charset: str, encoding: str, text: str) -> str | None:
    """One encoded word's text; None when it is not valid B or Q encoding."""
    try:
        if encoding in "bB":
            data = binascii.a2b_base64(text + "=" * (-len(text) % 4))
        else:
            data = binascii.a2b_qp(text, header=True)  # Q: "_" is a space (§4.2)
    except ValueError:  # binascii.Error, or non-ASCII text
        return None
    # RFC 2231 §5 allows a language after the charset: "utf-8*de".
    return decode_bytes(data, charset.partition("*")[0])


def part_text(part: Message) -> str:
    """A text part's decoded body; undeclared or unknown charsets are read as UTF-8."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_bytes(data, header_param(part, "charset"))


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
    """The newest part of an email body: no quoted history, reply header or signature.

    Only the first MAX_REPLY_SEARCH_CHARS are searched; when nothing is found
    there, the whole text is kept.
    """
    head = _reply_search_head(text)
    stripped = _newest_reply(head)
    # The parser trims every line; when it removed nothing, keep the indentation.
    unchanged = "\n".join(line.strip() for line in head.split("\n")).strip()
    return _trim(text) if stripped == unchanged else stripped


def _reply_search_head(text: str) -> str:
    """`text` up to MAX_REPLY_SEARCH_CHARS, cut at the end of a line when it is longer."""
    if len(text) <= MAX_REPLY_SEARCH_CHARS:
        return text
    cut = text.rfind("\n", 0, MAX_REPLY_SEARCH_CHARS)
    return text[: cut if cut > 0 else MAX_REPLY_SEARCH_CHARS]


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


def email_claim(value: str | None, field: str = "From") -> IdentityClaim | None:
    """An email IdentityClaim for an address header value, None when it has no address.

    The value may be raw (header_raw): the display name is decoded after the
    address is split off, so an encoded comma or quote cannot change the split.
    """
    if not value:
        return None
    address, name = canonical_email(value)
    if "@" not in address:
        return None
    if name is not None:
        name = decode_words(name, field)
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
