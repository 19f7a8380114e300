"""Delivery statuses reach Kafka: the relay publishes the message events a status
webhook wrote to the outbox, on the message topic, keyed by customer, valid
against docs/asyncapi.yaml."""

from __future__ import annotations

import json
import uuid

from devtools.event_schemas import load_event_schemas, validate_event
from tests.app.test_relay import _consume, _relay, _running
from tests.payloads import post, whatsapp
from tests.status_payloads import sent_reply, wa_status, whatsapp_statuses

TOPIC = "omniroute.messages"


async def test_status_events_are_published_on_the_message_topic(
    client, app, settings, kafka_cluster
):
    kafka_cluster.create_topic(TOPIC, partitions=2)
    wamid = "wamid." + uuid.uuid4().hex
    message = await sent_reply(
        client, app, whatsapp("4915112345690", "Hallo"), wamid, phone="+4915112345690"
    )
    for status in ("delivered", "read", "delivered"):  # the last changes nothing
        response = await post(client, whatsapp_statuses(wa_status(wamid, status)))
        assert response.status_code == 200

    async with _running(_relay(settings, kafka_cluster)):
        records = await _consume(kafka_cluster, 4, topic=TOPIC)

    schemas = load_event_schemas()
    events = {}
    for record in records:
        event = json.loads(record.value)
        validate_event(event, schemas)  # docs/asyncapi.yaml is the contract
        assert record.key.decode() == str(message["customer_id"])
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
        events.setdefault(event["id"], event)  # a redelivery repeats an id
    ordered = list(events.values())  # one key, one partition: commit order
    assert [(e["type"], e["data"].get("status")) for e in ordered] == [
        ("omniroute.message.sent.v1", None),
        ("omniroute.message.status.v1", "sent"),
        ("omniroute.message.status.v1", "delivered"),
        ("omniroute.message.status.v1", "read"),
    ]
    assert {e["subject"] for e in ordered} == {str(message["id"])}
    assert ordered[-1]["data"]["provider_message_id"] == wamid
    assert ordered[-1]["data"]["previous_status"] == "delivered"
