"""Outbox relay against real PostgreSQL and a real Kafka-protocol broker (librdkafka mock).

Every decision must reach Kafka at least once, keyed by customer, in per-customer order,
across broker outages, relay restarts and two competing instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from app.metrics import Metrics
from app.relay import Relay, RelayConfig, full_jitter, make_relay
from devtools.event_schemas import load_event_schemas, validate_event
from devtools.mock_kafka import MockKafkaCluster
from tests.conftest import AUTH
from tests.payloads import chat, email, post, sms, whatsapp

TOPIC = "omniroute.routing.decisions"


def _relay(settings, cluster: MockKafkaCluster, **config) -> Relay:
    settings = settings.model_copy(
        update={"kafka_bootstrap_servers": cluster.bootstrap_servers}
    )
    tuned = RelayConfig(
        **{
            "poll_seconds": 0.2,
            "standby_seconds": 0.3,
            "ack_wait_seconds": 0.5,
            "backoff_cap_seconds": 1.0,
            **config,
        }
    )
    relay = make_relay(settings, Metrics(), tuned)
    assert relay is not None
    return relay


@contextlib.asynccontextmanager
async def _running(relay: Relay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 10)


async def _consume(
    cluster: MockKafkaCluster, count: int, timeout: float = 20.0, topic: str = TOPIC
) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list = []
    distinct: set[bytes] = set()  # redeliveries repeat an event; count each once
    try:
        async with asyncio.timeout(timeout):
            while len(distinct) < count:
                batch = await consumer.getmany(timeout_ms=200)
                for partition_records in batch.values():
                    records.extend(partition_records)
                    distinct.update(
                        json.loads(r.value)["id"].encode() for r in partition_records
                    )
    finally:
        await consumer.stop()
    return records


async def _decisions_by_customer(engine) -> dict[str, list[str]]:
    """Decision ids per customer in commit order (outbox id order)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT key, event_id FROM outbox WHERE topic = :t ORDER BY id"),
                {"t": TOPIC},
            )
        ).all()
    grouped: dict[str, list[str]] = defaultdict(list)
    for key, event_id in rows:
        grouped[key].append(str(event_id))
    return grouped


def _first_seen_order(records) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for record in records:
        event_id = json.loads(record.value)["id"]
        key = record.key.decode()
        if event_id not in grouped[key]:
            grouped[key].append(event_id)
    return grouped


def _assert_delivered_in_order(records, expected: dict[str, list[str]]) -> None:
    """Every decision arrived, and per customer the first deliveries are in commit order."""
    seen = _first_seen_order(records)
    assert set(seen) == set(expected)
    for key, ids in expected.items():
        got = seen[key]
        first_gap = next(
            (i for i, (a, b) in enumerate(zip(got, ids, strict=False)) if a != b), None
        )
        assert got == ids, (
            f"customer {key}: {len(got)} delivered vs {len(ids)} committed; first "
            f"difference at position {first_gap}"
        )


def _mixed_traffic(n: int, customers: int) -> list:
    """n messages from `customers` people, each on SMS, WhatsApp and chat."""
    requests = []
    for i in range(n):
        person = i % customers
        phone = f"+1415555{person:04d}"
        kind = (i // customers) % 3
        if kind == 0:
            requests.append(sms(phone, f"message {i} about my invoice"))
        elif kind == 1:
            requests.append(
                whatsapp(phone.removeprefix("+"), f"message {i} via whatsapp")
            )
        else:
            requests.append(
                chat(
                    f"visitor-{person}",
                    f"message {i} in chat",
                    phone=phone,
                    verified=True,
                )
            )
    return requests


async def test_two_hundred_concurrent_messages_arrive_keyed_and_in_customer_order(
    client, engine, settings, kafka_cluster
):
    kafka_cluster.create_topic(TOPIC, partitions=4)
    responses = await asyncio.gather(
        *(post(client, r) for r in _mixed_traffic(200, 10))
    )
    assert {r.status_code for r in responses} == {200}
    relay = _relay(settings, kafka_cluster, batch_size=64)

    async with _running(relay):
        records = await _consume(kafka_cluster, 200)

    expected = await _decisions_by_customer(engine)
    assert sum(len(v) for v in expected.values()) == 200
    assert len(expected) == 10
    _assert_delivered_in_order(records, expected)
    schemas = load_event_schemas()
    for record in records:
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
        event = json.loads(record.value)
        validate_event(event, schemas)  # docs/asyncapi.yaml is the contract
        assert event["type"] == "omniroute.routing.decision.v1"
        assert event["data"]["customer_id"] == record.key.decode()
        assert event["data"]["decision_id"] == event["id"]
    async with engine.connect() as conn:
        pending = (
            await conn.execute(
                text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            )
        ).scalar()
    assert pending == 0


async def test_broker_outage_keeps_webhooks_answered_and_delivers_everything_after(
    client, engine, settings, kafka_cluster
):
    kafka_cluster.create_topic(TOPIC, partitions=2)
    relay = _relay(settings, kafka_cluster)
    async with _running(relay):
        first = [await post(client, r) for r in _mixed_traffic(10, 5)]
        await _consume(kafka_cluster, 10)
        kafka_cluster.broker_down(1)

        during = [
            await post(client, sms(f"+1415555{i:04d}", f"during outage {i}"))
            for i in range(20)
        ]
        async with asyncio.timeout(10):
            while relay.status.kafka != "degraded":
                await asyncio.sleep(0.1)
        degraded = relay.status.kafka

        kafka_cluster.broker_up(1)
        records = await _consume(kafka_cluster, 30)
        async with asyncio.timeout(10):
            while relay.status.kafka != "ok":
                await asyncio.sleep(0.1)

    assert {r.status_code for r in first + during} == {200}
    assert degraded == "degraded"
    _assert_delivered_in_order(records, await _decisions_by_customer(engine))


async def test_kafka_down_at_start_up_the_outbox_grows_then_drains_in_order(
    client, engine, settings, kafka_cluster
):
    kafka_cluster.create_topic(TOPIC, partitions=2)
    kafka_cluster.broker_down(1)
    relay = _relay(settings, kafka_cluster)
    async with _running(relay):
        responses = [await post(client, r) for r in _mixed_traffic(24, 4)]
        async with asyncio.timeout(10):
            while relay.status.kafka != "degraded":
                await asyncio.sleep(0.1)
        async with engine.connect() as conn:
            backlog = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                        " AND topic = :t"
                    ),
                    {"t": TOPIC},
                )
            ).scalar()
        kafka_cluster.broker_up(1)
        records = await _consume(kafka_cluster, 24)

    assert {r.status_code for r in responses} == {200}
    assert backlog == 24
    _assert_delivered_in_order(records, await _decisions_by_customer(engine))


async def test_relay_killed_mid_batch_loses_nothing_and_republishes_same_ids(
    client, engine, settings, kafka_cluster
):
    kafka_cluster.create_topic(TOPIC, partitions=3)
    for r in _mixed_traffic(300, 6):
        assert (await post(client, r)).status_code == 200
    first = _relay(settings, kafka_cluster, batch_size=20)
    task = asyncio.create_task(first.run())
    async with asyncio.timeout(15):  # kill it once some, not all, rows are published
        while True:
            async with engine.connect() as conn:
                done = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
                        )
                    )
                ).scalar()
            if done >= 40:
                break
            await asyncio.sleep(0.01)
    task.cancel()  # like a SIGKILL as far as the outbox is concerned: no clean stop
    with contextlib.suppress(asyncio.CancelledError):
        await task  # its producer is closed on the way out, nothing was marked

    second = _relay(settings, kafka_cluster, batch_size=50)
    async with _running(second):
        async with asyncio.timeout(20):
            while True:
                async with engine.connect() as conn:
                    pending = (
                        await conn.execute(
                            text(
                                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                            )
                        )
                    ).scalar()
                if pending == 0:
                    break
                await asyncio.sleep(0.05)
    records = await _consume(kafka_cluster, 300)

    expected = await _decisions_by_customer(engine)
    _assert_delivered_in_order(records, expected)
    delivered_ids = {json.loads(r.value)["id"] for r in records}
    assert delivered_ids == {i for ids in expected.values() for i in ids}


async def test_two_instances_one_active_relay_and_takeover_keeps_order(
    client, engine, settings, kafka_cluster
):
    kafka_cluster.create_topic(TOPIC, partitions=2)
    a, b = _relay(settings, kafka_cluster), _relay(settings, kafka_cluster)
    task_a, task_b = asyncio.create_task(a.run()), asyncio.create_task(b.run())
    async with asyncio.timeout(10):
        while {a.status.role, b.status.role} != {"leader", "standby"}:
            await asyncio.sleep(0.05)
    leader, standby = (a, b) if a.status.role == "leader" else (b, a)
    leader_task = task_a if leader is a else task_b
    for r in _mixed_traffic(30, 5):
        assert (await post(client, r)).status_code == 200
    await _consume(kafka_cluster, 30)

    await leader.stop()
    await asyncio.wait_for(leader_task, 10)
    async with asyncio.timeout(10):
        while standby.status.role != "leader":
            await asyncio.sleep(0.05)
    for r in _mixed_traffic(30, 5):
        assert (await post(client, r)).status_code == 200
    records = await _consume(kafka_cluster, 60)
    await standby.stop()
    await asyncio.wait_for(task_a if standby is a else task_b, 10)

    _assert_delivered_in_order(records, await _decisions_by_customer(engine))


async def test_merge_events_are_published_on_the_customer_topic(
    client, engine, settings, kafka_cluster
):
    kafka_cluster.create_topic("omniroute.customers", partitions=1)
    await post(client, email("ida@example.com", "by mail"))
    await post(client, chat("v-ida", "hello"))
    await post(
        client, chat("v-ida", "me again", email="ida@example.com", verified=True)
    )
    found = (
        await client.get(
            "/v1/customers", params={"email": "ida@example.com"}, headers=AUTH
        )
    ).json()["items"][0]
    relay = _relay(settings, kafka_cluster)

    async with _running(relay):
        [record] = await _consume(kafka_cluster, 1, topic="omniroute.customers")

    event = json.loads(record.value)
    validate_event(event, load_event_schemas())
    assert event["type"] == "omniroute.customer.merged.v1"
    assert record.key.decode() == found["id"] == event["data"]["surviving_customer_id"]
    assert event["data"]["merged_customer_id"] == found["merged_from"][0]


@pytest.mark.parametrize("seed", [1, 2])
def test_backoff_is_full_jitter_and_capped(seed):
    random.seed(seed)
    delays = [full_jitter(failures, 0.2, 5.0) for failures in range(12)]
    assert all(0 <= d <= 5.0 for d in delays)
    assert all(d <= 0.2 * 2**f for f, d in enumerate(delays))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed schedule
