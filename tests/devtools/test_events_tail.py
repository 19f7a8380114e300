"""`tail` against the librdkafka mock cluster, with events built by app/events.py."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from app.events import (
    CONTENT_TYPE,
    CUSTOMER_MERGED_TYPE,
    ROUTING_DECISION_TYPE,
    AssignmentFacts,
    DecisionContext,
    EventConfig,
    OutboxRow,
    agent_status,
    assignment,
    customer_merged,
    routing_decision,
)
from devtools.events_tail import describe, tail
from devtools.mock_kafka import MockKafkaCluster
from routing.model import Decision, Priority

pytest_plugins = ["tests.kafka_fixtures"]

CONFIG = EventConfig(source="https://omniroute.example.com")
AT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
CUSTOMER = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
CONVERSATION = uuid.UUID("6fa459ea-ee8a-3ca4-894e-db77e160355e")
MERGED = uuid.UUID("9c5b94b1-35ad-49bb-b118-8e8fc24abf80")
EVENT_TIMEOUT = 10  # seconds; a guard against hanging, not a timed assertion


def _decision_row() -> OutboxRow:
    context = DecisionContext(
        decision_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        conversation_id=CONVERSATION,
        customer_id=CUSTOMER,
        channel="sms",
        decided_at=AT,
    )
    decision = Decision(
        queue="billing",
        priority=Priority.high,
        skills=("billing",),
        tags=(),
        rule_id="billing-keywords",
        matched_conditions=("keywords_any",),
        rules_version="3f9a0c1b2d4e5f60",
        new_conversation=False,
        changed=True,
        escalated=True,
        previous_queue="general",
        previous_priority=Priority.normal,
        language="en",
        reason="rule billing-keywords matched",
    )
    return routing_decision(CONFIG, context, decision)


def _merge_row() -> OutboxRow:
    return customer_merged(CONFIG, CUSTOMER, MERGED, "same verified phone", AT)


async def _publish(cluster: MockKafkaCluster, rows: list[OutboxRow]) -> None:
    """Send `rows` as the relay does: key, payload and the content-type header."""
    producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap_servers)
    await producer.start()
    try:
        for row in rows:
            await producer.send_and_wait(
                row.topic,
                row.payload.encode(),
                key=row.key.encode(),
                headers=[("content-type", CONTENT_TYPE.encode())],
            )
    finally:
        await producer.stop()


@pytest.fixture
def topics(kafka_cluster: MockKafkaCluster) -> list[str]:
    names = [CONFIG.routing_topic, CONFIG.customer_topic]
    for name in names:
        kafka_cluster.create_topic(name)
    return names


async def test_tail_prints_decisions_and_merges(
    kafka_cluster: MockKafkaCluster, topics: list[str]
) -> None:
    await _publish(kafka_cluster, [_decision_row(), _merge_row()])
    out = io.StringIO()

    async with asyncio.timeout(EVENT_TIMEOUT):
        printed = await tail(
            kafka_cluster.bootstrap_servers, topics, True, out, limit=2
        )

    lines = out.getvalue().splitlines()
    assert printed == len(lines) == 2
    decision = next(line for line in lines if ROUTING_DECISION_TYPE in line)
    merge = next(line for line in lines if CUSTOMER_MERGED_TYPE in line)
    assert "billing/high (was general/normal)" in decision
    assert "rule=billing-keywords" in decision
    assert " sms " in decision
    assert "customer=1b4e28ba" in decision
    assert "conversation=6fa459ea" in decision
    assert "key=1b4e28ba" in decision
    assert decision.startswith("2025-03-03T09:30:00Z")
    assert "merged 9c5b94b1 -> 1b4e28ba  same verified phone" in merge


async def test_tail_stops_cleanly_when_cancelled(
    kafka_cluster: MockKafkaCluster, topics: list[str]
) -> None:
    await _publish(kafka_cluster, [_merge_row()])
    out = _SignallingOutput()
    task = asyncio.create_task(tail(kafka_cluster.bootstrap_servers, topics, True, out))
    async with asyncio.timeout(EVENT_TIMEOUT):
        await out.written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "merged 9c5b94b1 -> 1b4e28ba" in out.getvalue()


async def test_tail_from_the_end_skips_what_was_already_there(
    kafka_cluster: MockKafkaCluster, topics: list[str]
) -> None:
    old = customer_merged(CONFIG, CUSTOMER, MERGED, "before the tail started", AT)
    await _publish(kafka_cluster, [old])
    out = io.StringIO()
    task = asyncio.create_task(
        tail(kafka_cluster.bootstrap_servers, topics, False, out, limit=1)
    )
    # The consumer positions itself at the end at some point after it starts; keep
    # publishing until it has printed one. The pause only paces the loop.
    try:
        async with asyncio.timeout(EVENT_TIMEOUT):
            while not task.done():
                await _publish(kafka_cluster, [_merge_row()])
                await asyncio.wait({task}, timeout=0.2)
    finally:
        task.cancel()  # no-op once done; stops the consumer if the guard fired
    assert await task == 1
    assert "same verified phone" in out.getvalue()
    assert "before the tail started" not in out.getvalue()


async def test_unreachable_broker_fails_without_leaking_the_consumer(
    kafka_cluster: MockKafkaCluster,
) -> None:
    kafka_cluster.broker_down(1)
    with pytest.raises(KafkaConnectionError):
        await tail(kafka_cluster.bootstrap_servers, ["any"], True, io.StringIO())


async def test_topics_are_required() -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        await tail("127.0.0.1:1", [], True, io.StringIO())


async def test_zero_limit_prints_nothing() -> None:
    out = io.StringIO()
    assert await tail("127.0.0.1:1", ["any"], True, out, limit=0) == 0
    assert out.getvalue() == ""


class _SignallingOutput(io.StringIO):
    """A StringIO that tells the test when the first line has been written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param(b"k-1", b"hello", "?  key=k-1  hello", id="not-json"),
        pytest.param(None, b"[1, 2]", "?  key=-  [1, 2]", id="json-not-object"),
        pytest.param(None, None, "?  key=-  <null>", id="tombstone"),
        pytest.param(
            None,
            b'{"type": "other.v1", "data": {}}',
            '?  key=-  {"type": "other.v1", "data": {}}',
            id="foreign-type",
        ),
        pytest.param(
            None,
            b'{"type": "omniroute.customer.merged.v1", "data": {"reason": "x"}}',
            '?  key=-  {"type": "omniroute.customer.merged.v1", "data": {"reason": "x"}}',
            id="our-type-wrong-shape",
        ),
    ],
)
def test_unknown_payloads_are_printed_raw(
    key: bytes | None, value: bytes | None, expected: str
) -> None:
    line = describe(key, value, 1_741_000_000_000)
    assert line == f"2025-03-03T11:06:40.000Z  {expected}"


def test_assignment_and_agent_events_show_their_fields() -> None:
    row = assignment(
        CONFIG,
        AssignmentFacts(
            outcome="offered",
            conversation_id=CONVERSATION,
            customer_id=CUSTOMER,
            agent_id="alice",
            offer_id=uuid.uuid4(),
            queue="billing",
            channel="chat",
            priority="high",
            reason="most_available",
            at=AT,
        ),
    )
    line = describe(row.key.encode(), row.payload.encode(), 0)
    assert line == (
        "2025-03-03T09:30:00Z  omniroute.assignment.offered.v1"
        f"  key={str(CUSTOMER)[:8]}  conversation={str(CONVERSATION)[:8]}  agent=alice"
        "  queue=billing  channel=chat  reason=most_available"
    )
    status = agent_status(CONFIG, "alice", "away", "available", AT)
    line = describe(status.key.encode(), status.payload.encode(), 0)
    assert line.endswith(
        "key=alice  agent=alice  status=away  previous_status=available"
    )
