"""Outbox -> Kafka: the batch step, the single-leader loop, and its Kafka wiring."""

from app.relay.batch import BatchResult, Producer, publish_batch
from app.relay.kafka import make_relay, relay_config
from app.relay.relay import PublishFailed, Relay, RelayConfig, RelayStatus, full_jitter

__all__ = [
    "BatchResult",
    "Producer",
    "PublishFailed",
    "Relay",
    "RelayConfig",
    "RelayStatus",
    "full_jitter",
    "make_relay",
    "publish_batch",
    "relay_config",
]
