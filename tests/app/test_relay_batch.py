"""The relay's batch step with a real outbox connection and a real Kafka-protocol broker
(librdkafka mock cluster), without leadership or the loop around it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.db import dsn
from app.relay import publish_batch
from app.repositories.outbox import Outbox, OutboxRow

TOPIC = "batch.test"


@pytest.fixture
async def conn(settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn(settings))
    yield connection
    await connection.close()


@pytest.fixture
async def producer(kafka_cluster) -> AsyncIterator[AIOKafkaProducer]:
    kafka_cluster.create_topic(TOPIC, partitions=2)
    started = AIOKafkaProducer(
        bootstrap_servers=kafka_cluster.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=1000,  # a send to an absent broker fails in 1 s, not 40
    )
    await started.start()
    yield started
    await started.stop()


async def _add(conn: asyncpg.Connection, keys: list[str]) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in keys]
    async with conn.transaction():
        for key, event_id in zip(keys, ids, strict=True):
            payload = json.dumps({"id": str(event_id), "key": key})
            await Outbox(conn).add(
                OutboxRow(topic=TOPIC, key=key, event_id=event_id, payload=payload)
            )
    return ids


async def _consumed(cluster, count: int) -> list:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list = []
    try:
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"only {len(records)} of {count} events arrived"
            for partition in batch.values():
                records.extend(partition)
    finally:
        await consumer.stop()
    return records


async def test_a_batch_is_published_in_id_order_and_marked(
    conn, producer, kafka_cluster
):
    ids = await _add(conn, ["a", "b", "a", "c", "a"])

    result = await publish_batch(Outbox(conn), producer, limit=100)

    assert result.is_complete
    assert result.error is None
    assert len(result.published) == 5
    assert [r.id for r in result.published] == sorted(r.id for r in result.published)
    assert await Outbox(conn).pending(100) == []
    records = await _consumed(kafka_cluster, 5)
    sent_a = [json.loads(r.value)["id"] for r in records if r.key == b"a"]
    assert sent_a == [str(ids[0]), str(ids[2]), str(ids[4])]  # per-key order


async def test_a_batch_takes_at_most_limit_rows_oldest_first(conn, producer):
    await _add(conn, [f"k{i}" for i in range(7)])
    first_ids = [r.id for r in await Outbox(conn).pending(3)]

    result = await publish_batch(Outbox(conn), producer, limit=3)

    assert [r.id for r in result.published] == first_ids
    assert len(await Outbox(conn).pending(100)) == 4


async def test_an_empty_outbox_publishes_nothing(conn, producer):
    result = await publish_batch(Outbox(conn), producer, limit=10)

    assert (result.fetched, result.published, result.is_complete) == (0, (), True)


async def test_with_the_broker_away_nothing_is_marked_and_a_retry_publishes_all(
    conn, producer, kafka_cluster
):
    await _add(conn, ["x", "y", "x"])
    kafka_cluster.broker_down(1)

    failed = await publish_batch(Outbox(conn), producer, limit=10, ack_wait_seconds=0.3)
    kafka_cluster.broker_up(1)
    retried = await publish_batch(Outbox(conn), producer, limit=10)

    assert not failed.is_complete
    assert failed.published == ()
    assert failed.error is not None
    assert retried.is_complete
    assert len(retried.published) == 3
    records = await _consumed(kafka_cluster, 3)
    assert sorted(r.key for r in records) == [b"x", b"x", b"y"]
