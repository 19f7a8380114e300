"""What "safe to store" means for a parsed message, checked field by field in tests."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from connectors.delivery_status import ERROR_CODE_MAX, ERROR_MAX
from connectors.model import InboundMessage, Parsed, StatusUpdate

_SURROGATE = re.compile("[\ud800-\udfff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEY_BYTES = 1024
# Columns with a length (migrations/versions/0001_initial_schema.py).
COLUMN_CHARS = {"locale": 35, "content_type": 32, "sender.kind": 32, "provider": 32}


def problems(message: InboundMessage) -> list[str]:
    """Every reason PostgreSQL (or asyncpg) would refuse this message; [] if none."""
    found = [
        f"{path}: {why}"
        for path, value in _strings(message, "")
        for why in _text_problems(value)
    ]
    for path, value in _keys(message):
        if not value or len(value.encode()) > KEY_BYTES:
            found.append(f"{path}: key of {len(value.encode())} bytes")
    for path, limit in COLUMN_CHARS.items():
        column = _get(message, path)
        if isinstance(column, str) and len(column) > limit:
            found.append(f"{path}: {len(column)} > {limit} characters")
    found += _time_problems(message.sent_at)
    found += [
        f"attachments[{i}].size: {a.size}"
        for i, a in enumerate(message.attachments)
        if a.size is not None and not 0 <= a.size < 2**63
    ]
    return found


def status_problems(update: StatusUpdate) -> list[str]:
    """Every reason a status could not be looked up, stored or logged; [] if none."""
    found = [
        f"{path}: {why}"
        for path, value in _strings(update, "")
        for why in _text_problems(value)
    ]
    keys = {
        "provider_message_id": update.provider_message_id,
        "message_id": update.message_id,
        "recipient": update.recipient,
    }
    for path, value in keys.items():
        if value is not None and (not value or len(value.encode()) > KEY_BYTES):
            found.append(f"{path}: key of {len(value.encode())} bytes")
    if not (update.provider_message_id or update.message_id or update.watermark):
        found.append("names no message")
    for path, value, limit in (
        ("error_code", update.error_code, ERROR_CODE_MAX),
        ("error", update.error, ERROR_MAX),
    ):
        if value is not None and len(value) > limit:
            found.append(f"{path}: {len(value)} > {limit} characters")
    return found + _time_problems(update.at) + _time_problems(update.watermark)


def parsed_problems(parsed: Parsed) -> list[str]:
    return [p for message in parsed.messages for p in problems(message)] + [
        p for update in parsed.statuses for p in status_problems(update)
    ]


def _text_problems(value: str) -> Iterator[str]:
    if "\x00" in value:
        yield "NUL"
    if _SURROGATE.search(value):
        yield "lone surrogate"


def _time_problems(sent_at: datetime | None) -> list[str]:
    if sent_at is None:
        return []
    if sent_at.utcoffset() != timedelta(0):
        return [f"sent_at not in UTC: {sent_at!r}"]
    return [] if sent_at >= _EPOCH else [f"sent_at before 1970: {sent_at!r}"]


def _keys(message: InboundMessage) -> Iterator[tuple[str, str]]:
    yield "provider_message_id", message.provider_message_id
    yield "sender.value", message.sender.value
    for i, claim in enumerate(message.linked_identities):
        yield f"linked_identities[{i}].value", claim.value
    if message.email and message.email.message_id is not None:
        yield "email.message_id", message.email.message_id


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            name = f"{path}.{field.name}".removeprefix(".")
            yield from _strings(getattr(value, field.name), name)


def _get(value: object, path: str) -> object:
    for part in path.split("."):
        value = getattr(value, part)
    return value
