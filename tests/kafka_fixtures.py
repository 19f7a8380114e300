"""Kafka fixtures: a fresh in-process librdkafka mock cluster per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.mock_kafka import MockKafkaCluster


@pytest.fixture
def kafka_cluster(request: pytest.FixtureRequest) -> Iterator[MockKafkaCluster]:
    """One broker unless parametrized indirectly with a broker count.

    Function-scoped: a cluster starts in milliseconds, and a test that takes a broker
    down or fills a topic must not leak that state into the next test.
    """
    broker_count: int = getattr(request, "param", 1)
    with MockKafkaCluster(broker_count) as cluster:
        yield cluster
