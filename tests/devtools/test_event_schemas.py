"""Real events from app/events.py against the schemas of docs/asyncapi.yaml."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml
from jsonschema import ValidationError

from app.events import (
    AGENT_STATUS_TYPE,
    ASSIGNMENT_OUTCOMES,
    CSAT_RECEIVED_TYPE,
    CUSTOMER_MERGED_TYPE,
    MESSAGE_SENT_TYPE,
    MESSAGE_STATUS_TYPE,
    ROUTING_DECISION_TYPE,
    SLA_BREACHED_TYPE,
    SLA_WARNING_TYPE,
    DecisionContext,
    EventConfig,
    assignment_type,
    customer_merged,
    routing_decision,
)
from devtools.event_schemas import ASYNCAPI_FILE, load_event_schemas, validate_event
from routing.model import CHANNELS, Decision, Priority

CONFIG = EventConfig(source="https://omniroute.example.com")
DECIDED_AT = datetime(2025, 3, 3, 9, 30, 12, 345678, tzinfo=UTC)
Schemas = Mapping[str, Mapping[str, object]]
Document = dict[str, object]


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return load_event_schemas()


def _context(channel: str = "whatsapp") -> DecisionContext:
    return DecisionContext(
        decision_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        channel=channel,
        decided_at=DECIDED_AT,
    )


def _opening() -> Decision:
    return Decision(
        queue="billing",
        priority=Priority.high,
        skills=("billing", "german"),
        tags=("invoice",),
        rule_id="billing-keywords",
        matched_conditions=("keywords_any",),
        rules_version="3f9a0c1b2d4e5f60",
        new_conversation=True,
        changed=True,
        escalated=False,
        previous_queue=None,
        previous_priority=None,
        language="de",
        reason="rule billing-keywords matched: keywords_any",
    )


def _follow_up() -> Decision:
    return Decision(
        queue="billing",
        priority=Priority.urgent,
        skills=(),
        tags=(),
        rule_id=None,
        matched_conditions=(),
        rules_version="3f9a0c1b2d4e5f60",
        new_conversation=False,
        changed=True,
        escalated=True,
        previous_queue="billing",
        previous_priority=Priority.normal,
        language=None,
        reason="follow-up: priority raised from normal to urgent",
    )


def _decision_document(decision: Decision | None = None) -> Document:
    row = routing_decision(CONFIG, _context(), decision or _opening())
    document: Document = json.loads(row.payload)
    return document


def _merge_document() -> Document:
    at = datetime(2025, 3, 3, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    row = customer_merged(CONFIG, uuid.uuid4(), uuid.uuid4(), "same phone", at)
    document: Document = json.loads(row.payload)
    return document


def _data(document: Document) -> dict[str, object]:
    data = document["data"]
    assert isinstance(data, dict)
    return data


def test_asyncapi_document_declares_every_channel() -> None:
    spec = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    assert spec["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in spec["channels"].values()}
    assert addresses == {
        CONFIG.routing_topic,
        CONFIG.customer_topic,
        CONFIG.message_topic,
        CONFIG.assignment_topic,
        CONFIG.agent_topic,
        CONFIG.sla_topic,
        CONFIG.csat_topic,
    }
    assert {op["action"] for op in spec["operations"].values()} == {"send"}


def test_one_schema_per_event_type(schemas: Schemas) -> None:
    assert set(schemas) == {
        ROUTING_DECISION_TYPE,
        CUSTOMER_MERGED_TYPE,
        MESSAGE_SENT_TYPE,
        MESSAGE_STATUS_TYPE,
        AGENT_STATUS_TYPE,
        SLA_WARNING_TYPE,
        SLA_BREACHED_TYPE,
        CSAT_RECEIVED_TYPE,
        *(assignment_type(outcome) for outcome in ASSIGNMENT_OUTCOMES),
    }


@pytest.mark.parametrize(
    "decision",
    [
        pytest.param(_opening(), id="new-conversation"),
        pytest.param(_follow_up(), id="follow-up"),
    ],
)
def test_routing_decisions_validate(schemas: Schemas, decision: Decision) -> None:
    document = _decision_document(decision)
    validate_event(document, schemas)
    assert document["type"] == ROUTING_DECISION_TYPE


def test_previous_routing_is_published_on_follow_ups() -> None:
    follow_up = _data(_decision_document(_follow_up()))
    assert follow_up["previous"] == {"queue": "billing", "priority": "normal"}
    assert _data(_decision_document(_opening()))["previous"] is None


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_validates(schemas: Schemas, channel: str) -> None:
    row = routing_decision(CONFIG, _context(channel), _opening())
    validate_event(json.loads(row.payload), schemas)


def test_enums_match_the_routing_model() -> None:
    spec = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    components = spec["components"]["schemas"]
    assert components["Channel"]["enum"] == list(CHANNELS)
    assert components["Priority"]["enum"] == [p.value for p in Priority]


def test_customer_merged_validates(schemas: Schemas) -> None:
    validate_event(_merge_document(), schemas)


def _set(path: str, value: object) -> Callable[[Document], None]:
    """A mutation setting a dotted path, e.g. "data.priority"."""

    def mutate(document: Document) -> None:
        *parents, last = path.split(".")
        target: dict[str, object] = document
        for name in parents:
            child = target[name]
            assert isinstance(child, dict)
            target = child
        target[last] = value

    return mutate


def _drop(path: str) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        parent, _, name = path.rpartition(".")
        target = _data(document) if parent == "data" else document
        del target[name]

    return mutate


BROKEN_DECISIONS = [
    pytest.param(_drop("data.queue"), "required", id="missing-data-queue"),
    pytest.param(_drop("subject"), "required", id="missing-subject"),
    pytest.param(_set("data.priority", "critical"), "enum", id="wrong-priority"),
    pytest.param(_set("data.channel", "fax"), "enum", id="wrong-channel"),
    pytest.param(
        _set("data.escalated", True), "additionalProperties", id="extra-field"
    ),
    pytest.param(_set("data.customer_id", "42"), "format", id="customer-id-not-uuid"),
    pytest.param(_set("data.skills", "billing"), "type", id="skills-not-array"),
    pytest.param(_set("data.previous", {"queue": "x"}), "oneOf", id="previous-partial"),
    pytest.param(_set("specversion", "0.3"), "const", id="wrong-specversion"),
    pytest.param(
        _set("datacontenttype", "text/plain"), "const", id="wrong-datacontenttype"
    ),
    pytest.param(_set("time", "2025-03-03T09:30:12"), "format", id="naive-time"),
    pytest.param(_set("time", "2025-02-30T09:30:12Z"), "format", id="invalid-time"),
    pytest.param(
        _set("data.decided_at", "yesterday"), "format", id="invalid-decided-at"
    ),
    pytest.param(
        _set("data.rules_version", "v1"), "pattern", id="rules-version-not-hash"
    ),
]


@pytest.mark.parametrize(("mutate", "validator"), BROKEN_DECISIONS)
def test_broken_decisions_are_rejected(
    schemas: Schemas, mutate: Callable[[Document], None], validator: str
) -> None:
    document = _decision_document()
    validate_event(document, schemas)  # the unbroken original is valid
    broken = copy.deepcopy(document)
    mutate(broken)
    with pytest.raises(ValidationError) as raised:
        validate_event(broken, schemas)
    assert raised.value.validator == validator


@pytest.mark.parametrize(
    ("mutate", "validator"),
    [
        pytest.param(_drop("data.merged_at"), "required", id="missing-merged-at"),
        pytest.param(_set("data.queue", "billing"), "additionalProperties", id="extra"),
        pytest.param(_set("data.merged_at", "2025-03-03"), "format", id="date-only"),
        pytest.param(_set("id", "merge-1"), "format", id="id-not-uuid"),
    ],
)
def test_broken_merges_are_rejected(
    schemas: Schemas, mutate: Callable[[Document], None], validator: str
) -> None:
    broken = _merge_document()
    mutate(broken)
    with pytest.raises(ValidationError) as raised:
        validate_event(broken, schemas)
    assert raised.value.validator == validator


def test_unknown_type_is_rejected(schemas: Schemas) -> None:
    document = _decision_document()
    document["type"] = "omniroute.routing.decision.v2"
    with pytest.raises(ValidationError, match="unknown event type"):
        validate_event(document, schemas)


def test_type_must_match_the_schema_const(schemas: Schemas) -> None:
    # A decision claiming to be a merge, checked against the decision schema: only the
    # `type` const can fail.
    swapped = {CUSTOMER_MERGED_TYPE: schemas[ROUTING_DECISION_TYPE]}
    document = _decision_document()
    document["type"] = CUSTOMER_MERGED_TYPE
    with pytest.raises(ValidationError) as raised:
        validate_event(document, swapped)
    assert raised.value.validator == "const"
    assert list(raised.value.absolute_path) == ["type"]


def test_schemas_are_self_contained(schemas: Schemas) -> None:
    text = json.dumps(schemas[ROUTING_DECISION_TYPE])
    assert "#/components/" not in text
    assert '"$ref": "#/$defs/RoutingDecisionEvent"' in text
