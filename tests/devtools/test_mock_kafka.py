"""aiokafka against the librdkafka mock cluster: delivery, ordering and a broker outage."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError
from aiokafka.structs import RecordMetadata

from devtools.mock_kafka import MockKafkaCluster, MockKafkaError

pytest_plugins = ["tests.kafka_fixtures"]

TOPIC = "messages"
EVENT_TIMEOUT = 10  # seconds to wait for something that should happen promptly


def _producer(cluster: MockKafkaCluster, **overrides: object) -> AIOKafkaProducer:
    options: dict[str, object] = {"enable_idempotence": True, "acks": "all"}
    return AIOKafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers, **(options | overrides)
    )


async def _consume(cluster: MockKafkaCluster, count: int) -> list[tuple[bytes, bytes]]:
    """Read `count` (key, value) pairs from the start of TOPIC, without a consumer group."""
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(EVENT_TIMEOUT):
            while len(received) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    received += [(r.key or b"", r.value or b"") for r in records]
    finally:
        await consumer.stop()
    return received


def _by_key(pairs: list[tuple[bytes, bytes]]) -> dict[bytes, list[int]]:
    """Sequence numbers per key, in the order they were read."""
    sequences: dict[bytes, list[int]] = defaultdict(list)
    for key, value in pairs:
        sequences[key].append(int(value))
    return dict(sequences)


@pytest.mark.parametrize("kafka_cluster", [3], indirect=True)
async def test_idempotent_producer_keeps_per_key_order(
    kafka_cluster: MockKafkaCluster,
) -> None:
    kafka_cluster.create_topic(TOPIC, partitions=3, replication_factor=3)
    keys = [f"customer-{n}".encode() for n in range(10)]
    producer = _producer(kafka_cluster)
    await producer.start()
    try:
        # Enqueue everything before awaiting any ack so batches really pile up.
        acks = [
            await producer.send(TOPIC, key=keys[seq % 10], value=str(seq).encode())
            for seq in range(200)
        ]
        delivered = await asyncio.gather(*acks)
    finally:
        await producer.stop()

    assert {meta.partition for meta in delivered} == {0, 1, 2}
    sequences = _by_key(await _consume(kafka_cluster, 200))
    assert sequences == {key: list(range(n, 200, 10)) for n, key in enumerate(keys)}


async def test_idempotent_sends_wait_out_an_outage(
    kafka_cluster: MockKafkaCluster,
) -> None:
    kafka_cluster.create_topic(TOPIC)
    # A short request timeout shows idempotent batches are retried past it, not failed.
    producer = _producer(kafka_cluster, request_timeout_ms=500, retry_backoff_ms=50)
    await producer.start()
    try:
        for seq in range(5):
            await producer.send_and_wait(TOPIC, value=str(seq).encode())
        kafka_cluster.broker_down(1)
        sends = [
            asyncio.create_task(producer.send_and_wait(TOPIC, value=str(seq).encode()))
            for seq in range(5, 10)
        ]
        done, _ = await asyncio.wait(sends, timeout=1.5)
        assert not done
        kafka_cluster.broker_up(1)
        delivered: list[RecordMetadata] = await asyncio.wait_for(
            asyncio.gather(*sends), EVENT_TIMEOUT
        )
    finally:
        await producer.stop()

    assert [meta.offset for meta in delivered] == list(range(5, 10))
    values = [value for _, value in await _consume(kafka_cluster, 10)]
    assert values == [str(seq).encode() for seq in range(10)]


async def test_plain_sends_fail_during_an_outage(
    kafka_cluster: MockKafkaCluster,
) -> None:
    kafka_cluster.create_topic(TOPIC)
    producer = _producer(
        kafka_cluster, enable_idempotence=False, request_timeout_ms=500
    )
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, value=b"before")
        kafka_cluster.broker_down(1)
        # Without idempotence a batch expires after request_timeout_ms, failing the send
        # with a retriable error instead of waiting for the broker.
        with pytest.raises(NodeNotReadyError) as raised:
            await asyncio.wait_for(
                producer.send_and_wait(TOPIC, value=b"lost"), EVENT_TIMEOUT
            )
        assert raised.value.retriable
    finally:
        await producer.stop()


async def test_producer_cannot_start_while_the_broker_is_down(
    kafka_cluster: MockKafkaCluster,
) -> None:
    kafka_cluster.broker_down(1)
    producer = _producer(kafka_cluster)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


def test_broker_comes_back_at_the_same_address() -> None:
    with MockKafkaCluster(2) as cluster:
        before = cluster.bootstrap_servers
        cluster.broker_down(2)
        cluster.broker_up(2)
        assert cluster.bootstrap_servers == before
        assert len(before.split(",")) == 2


def test_errors_and_close() -> None:
    cluster = MockKafkaCluster()
    cluster.create_topic(TOPIC)
    with pytest.raises(MockKafkaError, match="already exists"):
        cluster.create_topic(TOPIC)
    with pytest.raises(MockKafkaError, match="not available"):
        cluster.broker_down(99)
    cluster.close()
    cluster.close()
    with pytest.raises(MockKafkaError, match="closed"):
        cluster.broker_up(1)
