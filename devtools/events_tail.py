"""`omniroute events tail`: print the events on our topics, one line each, as they arrive."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final, TextIO

from aiokafka import AIOKafkaConsumer

from app.events import CUSTOMER_MERGED_TYPE, ROUTING_DECISION_TYPE

_SHORT: Final = 8  # hex digits of a uuid to show, as git shows commit ids


async def tail(
    bootstrap_servers: str,
    topics: Sequence[str],
    from_beginning: bool,
    out: TextIO,
    limit: int | None = None,
) -> int:
    """Print each record of `topics` to `out` until `limit` records or cancellation.

    No consumer group and no committed offsets: every run starts at the beginning or at
    the end of each partition. Cancellation (Ctrl-C under asyncio.run) closes the
    consumer and propagates.
    """
    if not topics:
        raise ValueError("tail needs at least one topic")
    if limit is not None and limit <= 0:
        return 0
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        client_id="omniroute-events-tail",
    )
    printed = 0
    try:
        await consumer.start()  # inside: stop() also cleans up after a failed start
        async for record in consumer:
            out.write(describe(record.key, record.value, record.timestamp) + "\n")
            out.flush()
            printed += 1
            if printed == limit:
                break
    finally:
        await consumer.stop()
    return printed


def describe(key: bytes | None, value: bytes | None, timestamp_ms: int) -> str:
    """One line for a record: a summary of our CloudEvents, anything else raw."""
    key_text = _key(key)
    event = _json_object(value)
    summary = _summary(event) if event is not None else None
    if event is None or summary is None:
        raw = value.decode("utf-8", "replace") if value is not None else "<null>"
        return f"{_kafka_time(timestamp_ms)}  ?  key={key_text}  {raw}"
    return f"{event.get('time', '?')}  {event['type']}  key={key_text}  {summary}"


def _summary(event: Mapping[str, object]) -> str | None:
    data = event.get("data")
    if not isinstance(data, Mapping):
        return None
    try:
        if event.get("type") == ROUTING_DECISION_TYPE:
            return _decision(data)
        if event.get("type") == CUSTOMER_MERGED_TYPE:
            return _merge(data)
        if str(event.get("type", "")).startswith("omniroute."):
            return _fields(data)
    except (KeyError, TypeError):
        return None  # our type but not our shape: show it raw rather than guess
    return None


def _decision(data: Mapping[str, object]) -> str:
    routed = f"{data['queue']}/{data['priority']}"
    previous = data.get("previous")
    if data.get("changed") and isinstance(previous, Mapping):
        routed += f" (was {previous['queue']}/{previous['priority']})"
    return (
        f"{routed}  rule={data['rule_id'] or '-'}  {data['channel']}"
        f"  customer={_short(data['customer_id'])}"
        f"  conversation={_short(data['conversation_id'])}  {data['reason']}"
    )


_SHOWN = (
    "conversation_id",
    "agent_id",
    "status",
    "previous_status",
    "queue",
    "channel",
    "metric",
    "due_at",
    "reason",
)


def _fields(data: Mapping[str, object]) -> str:
    """Assignments, agents, messages, SLA: the fields an operator looks for."""
    shown = []
    for name in _SHOWN:
        value = data.get(name)
        if value is None:
            continue
        text = _short(value) if name == "conversation_id" else str(value)
        shown.append(f"{name.removesuffix('_id')}={text}")
    return "  ".join(shown)


def _merge(data: Mapping[str, object]) -> str:
    merged = _short(data["merged_customer_id"])
    surviving = _short(data["surviving_customer_id"])
    return f"merged {merged} -> {surviving}  {data['reason']}"


def _key(key: bytes | None) -> str:
    """Our keys are customer ids, shortened like the ids in the summary; others verbatim."""
    if key is None:
        return "-"
    text = key.decode("utf-8", "replace")
    try:
        uuid.UUID(text)
    except ValueError:
        return text
    return text[:_SHORT]


def _short(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string id, got {value!r}")
    return value[:_SHORT]


def _json_object(value: bytes | None) -> dict[str, object] | None:
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:  # also UnicodeDecodeError
        return None
    return decoded if isinstance(decoded, dict) else None


def _kafka_time(timestamp_ms: int) -> str:
    """The record's own timestamp, for payloads without a CloudEvents `time`."""
    at = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
