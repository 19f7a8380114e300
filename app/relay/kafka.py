"""The relay as the service runs it: an idempotent aiokafka producer (acks=all)."""

from __future__ import annotations

from datetime import timedelta

from aiokafka import AIOKafkaProducer

from app.db import dsn
from app.metrics import Metrics
from app.relay.batch import Producer
from app.relay.relay import Relay, RelayConfig
from app.settings import Settings


def relay_config(settings: Settings) -> RelayConfig:
    return RelayConfig(
        batch_size=settings.relay_batch_size,
        retention=timedelta(hours=settings.outbox_retention_hours),
    )


def make_relay(
    settings: Settings, metrics: Metrics, config: RelayConfig | None = None
) -> Relay | None:
    """The outbox relay, when Kafka is configured; `config` overrides the settings'."""
    servers = settings.kafka_bootstrap_servers
    if not servers:
        return None

    def producer() -> Producer:
        return AIOKafkaProducer(  # type: ignore[no-any-return]
            bootstrap_servers=servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
            client_id="omniroute-relay",
        )

    return Relay(dsn(settings), producer, metrics, config or relay_config(settings))
