"""Every channel a connector can produce is known to routing rules and the event schema
(routing/model.py CHANNELS, routing/schema.py `_Channel`, docs/asyncapi.yaml `Channel`)."""

from __future__ import annotations

import yaml

from connectors.model import Channel
from devtools.event_schemas import ASYNCAPI_FILE
from routing.model import CHANNELS
from tests.routing import is_matched, message

CONNECTOR_CHANNELS = [channel.value for channel in Channel]


def test_routing_channels_cover_the_connectors() -> None:
    assert list(CHANNELS) == CONNECTOR_CHANNELS


def test_a_rule_can_name_every_connector_channel() -> None:
    for channel in CONNECTOR_CHANNELS:
        assert is_matched(f"{{channel: {channel}}}", message(channel=channel))


def test_event_schema_channels_cover_the_connectors() -> None:
    spec = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    assert spec["components"]["schemas"]["Channel"]["enum"] == CONNECTOR_CHANNELS
