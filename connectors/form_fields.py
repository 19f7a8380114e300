"""A few named fields of a form post, read without building the form.

For checking a signature carried in form fields (Mailgun's `timestamp`, `token`,
`signature`) before anything else of an untrusted body is parsed: every other
field and file is skipped unread, and the work is bounded by FormLimits and done
by C-speed scans (bytes.count, split, find) rather than per-byte Python.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from connectors.model import FormLimits, PayloadInvalid

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["MAX_VALUE_BYTES", "read_fields"]

# A wanted value longer than this is refused: the fields read here are short
# (a 256-character token is at most 768 bytes percent-encoded).
MAX_VALUE_BYTES: Final = 1024
# One part header line (a long RFC 2231 filename is a few KiB) and header count.
_MAX_PART_HEADER_BYTES: Final = 16 * 1024
_MAX_PART_HEADERS: Final = 16
# Parameters split before a Content-Disposition is read (see email_text).
_MAX_PARAMS: Final = 100
_NO_PARTS: Final = "no form-data parts for the Content-Type boundary"
# python-multipart logs a warning before raising on malformed input; its reason
# travels in the exception, and app/ logs each rejection once.
_SILENT: Final = logging.Logger("python_multipart", logging.CRITICAL + 1)


def read_fields(
    body: bytes, content_type: str, names: Collection[str], limits: FormLimits
) -> dict[str, str]:
    """The values of the fields in `names` that the form has, each at most once.

    PayloadInvalid when the body is not a form, has more than `limits.max_fields`
    fields, or has a wanted field twice or longer than MAX_VALUE_BYTES: read twice,
    a field could mean one thing to the signature check and another to its caller.
    """
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return _multipart(body, content_type, frozenset(names), limits)
    if media_type == "application/x-www-form-urlencoded":
        return _urlencoded(body, frozenset(names), limits)
    got = media_type or "no content-type"
    raise PayloadInvalid("content-type", f"expected a form, got {got}")


def _urlencoded(
    body: bytes, names: frozenset[str], limits: FormLimits
) -> dict[str, str]:
    # The fields as urllib.parse.parse_qsl splits them, keep_blank_values=True.
    if body.count(b"&") >= limits.max_fields:
        raise PayloadInvalid("body", f"more than {limits.max_fields} form fields")
    # A name percent-encoded in full takes 3 bytes a character: anything longer
    # cannot decode to a wanted name, and is never unquoted.
    longest = 3 * max((len(name) for name in names), default=0)
    found: dict[str, str] = {}
    for piece in body.split(b"&"):
        raw_name, _, raw_value = piece.partition(b"=")
        if not piece or len(raw_name) > longest:
            continue
        name = _unquote(raw_name)
        if name in names:
            _keep(found, name, raw_value, _unquote)
    return found


def _unquote(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


def _keep(
    found: dict[str, str], name: str, raw: bytes, decode: Callable[[bytes], str]
) -> None:
    if name in found:
        raise PayloadInvalid(name, "appears more than once")
    if len(raw) > MAX_VALUE_BYTES:
        raise PayloadInvalid(name, f"longer than {MAX_VALUE_BYTES} bytes")
    found[name] = decode(raw)


def _decode_utf8(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _multipart(
    body: bytes, content_type: str, names: frozenset[str], limits: FormLimits
) -> dict[str, str]:
    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise PayloadInvalid("body", _NO_PARTS)
    parts = _Parts(names, limits.max_fields)
    try:
        parser = MultipartParser(
            boundary,
            parts.callbacks(),
            max_header_count=_MAX_PART_HEADERS,
            max_header_size=_MAX_PART_HEADER_BYTES,
        )
        parser.logger = _SILENT
        parser.write(body)
    except FormParserError as exc:
        raise PayloadInvalid("body", f"malformed form-data: {exc}") from None
    if parts.count == 0:
        raise PayloadInvalid("body", _NO_PARTS)
    return parts.found


class _Parts:
    """MultipartParser callbacks that keep the wanted fields' values and no more.

    Only a part's first Content-Disposition is kept (as Message.get_param reads
    it), and only the content of a wanted part; a part counts once it has ended,
    so one cut off by the end of the body counts for nothing.
    """

    def __init__(self, names: frozenset[str], max_parts: int) -> None:
        self.names, self.max_parts = names, max_parts
        self.count = 0
        self.found: dict[str, str] = {}
        self._header = bytearray()
        self._disposition: bytearray | None = None
        self._is_disposition = False
        self._field: str | None = None
        self._value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self.count += 1
        if self.count > self.max_parts:
            raise PayloadInvalid("body", f"more than {self.max_parts} form fields")
        self._disposition, self._field = None, None
        self._value.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        # The parser has delivered the whole name by now (it ends at the colon).
        if self._disposition is None:
            self._is_disposition = self._header.lower() == b"content-disposition"
            if self._is_disposition:
                self._disposition = bytearray()
        if self._is_disposition and self._disposition is not None:
            self._disposition += data[start:end]

    def _header_end(self) -> None:
        self._header.clear()
        self._is_disposition = False

    def _headers_finished(self) -> None:
        self._field = _field_name(self._disposition, self.names)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field is not None:
            self._value += data[start:end]
            if len(self._value) > MAX_VALUE_BYTES:
                reason = f"longer than {MAX_VALUE_BYTES} bytes"
                raise PayloadInvalid(self._field, reason)

    def _part_end(self) -> None:
        if self._field is not None:
            _keep(self.found, self._field, bytes(self._value), _decode_utf8)


def _field_name(disposition: bytearray | None, names: frozenset[str]) -> str | None:
    """The wanted field a part's Content-Disposition names; None for anything else."""
    if disposition is None or disposition.count(b";") > _MAX_PARAMS:
        return None
    params = parse_options_header(bytes(disposition))[1]
    if b"filename" in params:  # a file, never a field (RFC 7578 §4.2)
        return None
    name = params.get(b"name", b"").decode("utf-8", "replace")
    return name if name in names else None
