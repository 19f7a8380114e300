"""The outbound message events of app/events.py against docs/asyncapi.yaml."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest
import yaml
from jsonschema import ValidationError

from app.events import (
    MESSAGE_SENT_TYPE,
    MESSAGE_STATUS_TYPE,
    EventConfig,
    OutboundFacts,
    message_sent,
    message_status,
)
from devtools.event_schemas import ASYNCAPI_FILE, load_event_schemas, validate_event
from outbound.model import Status
from outbound.registry import SENDERS, SMTP

CONFIG = EventConfig(source="https://omniroute.example.com")
AT = datetime(2026, 12, 1, 9, 30, 12, 345678, tzinfo=UTC)
Schemas = Mapping[str, Mapping[str, object]]
Document = dict[str, object]


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return load_event_schemas()


def _facts(**overrides: object) -> OutboundFacts:
    values: dict[str, object] = {
        "message_id": uuid.uuid4(),
        "conversation_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "channel": "whatsapp",
        "provider": "whatsapp",
        "agent_id": "ana",
        "provider_message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTND",
    }
    return OutboundFacts(**(values | overrides))  # type: ignore[arg-type]


def _sent(**overrides: object) -> Document:
    document: Document = json.loads(
        message_sent(CONFIG, _facts(**overrides), AT).payload
    )
    return document


def _status(
    status: Status = Status.failed,
    previous: Status = Status.sent,
    error_code: str | None = "131050",
    error: str | None = "marketing messages refused",
    **overrides: object,
) -> Document:
    row = message_status(
        CONFIG,
        _facts(**overrides),
        status=status,
        previous=previous,
        at=AT,
        error_code=error_code,
        error=error,
    )
    document: Document = json.loads(row.payload)
    return document


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(_sent(), id="sent"),
        pytest.param(_sent(agent_id=None, provider_message_id=None), id="sent-nulls"),
        pytest.param(_status(), id="failed-with-error"),
        pytest.param(
            _status(Status.read, Status.sent, None, None), id="read-without-error"
        ),
        pytest.param(
            _status(Status.failed, Status.sent, "30003", None), id="code-only"
        ),
        pytest.param(
            _status(Status.queued, Status.unknown, None, None), id="retry-to-queued"
        ),
    ],
)
def test_message_events_validate(schemas: Schemas, document: Document) -> None:
    validate_event(document, schemas)
    assert document["type"] in (MESSAGE_SENT_TYPE, MESSAGE_STATUS_TYPE)
    data = document["data"]
    assert isinstance(data, dict)
    assert document["subject"] == data["message_id"]


def test_enums_match_the_outbound_model() -> None:
    spec = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    components = spec["components"]["schemas"]
    assert components["DeliveryStatus"]["enum"] == [s.value for s in Status]
    assert set(components["OutboundProvider"]["enum"]) == {*SENDERS, SMTP}


def _set(path: str, value: object) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        *parents, last = path.split(".")
        target: dict[str, object] = document
        for name in parents:
            child = target[name]
            assert isinstance(child, dict)
            target = child
        target[last] = value

    return mutate


def _drop(name: str) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        data = document["data"]
        assert isinstance(data, dict)
        del data[name]

    return mutate


@pytest.mark.parametrize(
    ("build", "mutate", "validator"),
    [
        pytest.param(_sent, _drop("sent_at"), "required", id="sent-missing-sent-at"),
        pytest.param(_sent, _set("data.status", "sent"), "additionalProperties", id="sent-extra"),
        pytest.param(_sent, _set("data.provider", "sendgrid"), "enum", id="sent-provider"),
        pytest.param(_status, _set("data.status", "bounced"), "enum", id="status-value"),
        pytest.param(_status, _drop("previous_status"), "required", id="no-previous"),
        pytest.param(_status, _set("data.error", {"code": 1}), "oneOf", id="error-shape"),
        pytest.param(_status, _set("data.at", "2026-12-01"), "format", id="at-date-only"),
        pytest.param(_status, _set("subject", "m-1"), "format", id="subject-not-uuid"),
    ],
)  # fmt: skip
def test_broken_message_events_are_rejected(
    schemas: Schemas,
    build: Callable[[], Document],
    mutate: Callable[[Document], None],
    validator: str,
) -> None:
    document = build()
    validate_event(document, schemas)
    mutate(document)
    with pytest.raises(ValidationError) as raised:
        validate_event(document, schemas)
    assert raised.value.validator == validator
