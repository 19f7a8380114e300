"""Assignment and agent-status events reach Kafka: a desk's day (presence changes,
an offer declined, re-offered, timed out and accepted, transfers to a queue and to an
agent, auto-accept, a withdrawal, releases after the offline grace) relayed from the
outbox to the librdkafka mock broker, consumed from both topics, keyed, in order per
conversation and agent, and valid against docs/asyncapi.yaml."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from jsonschema import ValidationError

from app.api.assignment_schemas import AGENT_ID_PATTERN, StatusIn
from app.events import (
    AGENT_STATUS_TYPE,
    ASSIGNMENT_OUTCOMES,
    AssignmentFacts,
    EventConfig,
    agent_status,
    assignment,
    assignment_type,
)
from app.settings import Settings
from devtools.event_schemas import ASYNCAPI_FILE, load_event_schemas, validate_event
from devtools.mock_kafka import MockKafkaCluster
from tests.app.test_relay import _relay, _running
from tests.assignment.conftest import Desk
from tests.conftest import AUTH, PUBLIC_BASE_URL

ASSIGNMENTS = "omniroute.assignments"
AGENTS = "omniroute.agents"
ASSIGNMENT_TYPES = {assignment_type(outcome) for outcome in ASSIGNMENT_OUTCOMES}
CONFIG = EventConfig(source=PUBLIC_BASE_URL)
Schemas = Mapping[str, Mapping[str, object]]
Document = dict[str, Any]
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return load_event_schemas()


# -- the contract: every type the code can emit is documented ---------------------


def test_every_assignment_and_agent_type_has_a_schema(schemas: Schemas) -> None:
    assert len(ASSIGNMENT_TYPES) == 7
    assert ASSIGNMENT_TYPES | {AGENT_STATUS_TYPE} <= set(schemas)


def test_assignment_and_agent_channels_carry_their_types() -> None:
    spec = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    components = spec["components"]
    by_address = {c["address"]: c for c in spec["channels"].values()}
    defaults = Settings.model_fields
    assert defaults["kafka_assignment_topic"].default == CONFIG.assignment_topic
    assert defaults["kafka_agent_topic"].default == CONFIG.agent_topic

    def types_of(address: str) -> set[str]:
        kinds = set()
        for message in by_address[address]["messages"].values():
            name = message["$ref"].rpartition("/")[2]
            payload = components["messages"][name]["payload"]["$ref"]
            schema = components["schemas"][payload.rpartition("/")[2]]
            kinds.add(schema["properties"]["type"]["const"])
        return kinds

    assert types_of(CONFIG.assignment_topic) == ASSIGNMENT_TYPES
    assert types_of(CONFIG.agent_topic) == {AGENT_STATUS_TYPE}
    sent = {
        m["$ref"].rpartition("/")[2]
        for op in spec["operations"].values()
        for m in op["messages"]
    }
    for address in (CONFIG.assignment_topic, CONFIG.agent_topic):
        assert set(by_address[address]["messages"]) <= sent  # each has an operation


def test_agent_enums_match_the_api() -> None:
    spec = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    components = spec["components"]["schemas"]
    statuses = StatusIn.model_fields["status"].annotation.__args__  # type: ignore[union-attr]
    assert components["AgentPresence"]["enum"] == list(statuses)
    assert components["AgentId"]["pattern"] == AGENT_ID_PATTERN


def _step(outcome: str, **overrides: object) -> Document:
    values: dict[str, object] = {
        "outcome": outcome,
        "conversation_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "agent_id": "alice",
        "offer_id": uuid.uuid4(),
        "queue": "support",
        "channel": "chat",
        "priority": "normal",
        "reason": "most_available: 3 of 3 free",
        "at": datetime(2026, 12, 1, 9, 30, 12, 345678, tzinfo=UTC),
    }
    facts = AssignmentFacts(**(values | overrides))  # type: ignore[arg-type]
    document: Document = json.loads(assignment(CONFIG, facts).payload)
    return document


def _presence(status: str = "away", previous: str | None = "available") -> Document:
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    document: Document = json.loads(
        agent_status(CONFIG, "alice", status, previous, at).payload
    )
    return document


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(_step("offered"), id="offered"),
        pytest.param(_step("accepted"), id="accepted"),
        pytest.param(_step("accepted", offer_id=None), id="accepted-auto"),
        pytest.param(_step("declined", reason="busy"), id="declined"),
        pytest.param(_step("timed_out"), id="timed-out"),
        pytest.param(_step("withdrawn"), id="withdrawn"),
        pytest.param(_step("released", offer_id=None), id="released"),
        pytest.param(
            _step("released", offer_id=None, queue=None, channel=None, priority=None),
            id="released-closed",
        ),
        pytest.param(_step("transferred", agent_id=None, offer_id=None), id="to-queue"),
        pytest.param(_step("transferred", offer_id=None), id="to-agent"),
        pytest.param(_presence("offline", None), id="agent-created"),
        pytest.param(_presence(), id="agent-away"),
    ],
)
def test_real_events_validate(schemas: Schemas, document: Document) -> None:
    validate_event(document, schemas)


def _set(path: str, value: object) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        *parents, last = path.split(".")
        target = document
        for name in parents:
            target = target[name]
        target[last] = value

    return mutate


def _drop(name: str) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        del document["data"][name]

    return mutate


def _retype(outcome: str) -> Callable[[Document], None]:
    return _set("type", assignment_type(outcome))


@pytest.mark.parametrize(
    ("build", "mutate", "validator"),
    [
        pytest.param(lambda: _step("offered"), _set("data.offer_id", None), "type", id="offer-without-offer-id"),
        pytest.param(lambda: _step("declined"), _set("data.agent_id", None), "type", id="decline-without-agent"),
        pytest.param(lambda: _step("timed_out"), _set("data.queue", None), "type", id="timeout-without-queue"),
        pytest.param(lambda: _step("accepted"), _set("data.channel", "fax"), "oneOf", id="wrong-channel"),
        pytest.param(lambda: _step("withdrawn"), _set("data.priority", "critical"), "oneOf", id="wrong-priority"),
        pytest.param(lambda: _step("withdrawn"), _drop("reason"), "required", id="missing-reason"),
        pytest.param(lambda: _step("offered"), _set("data.outcome", "offered"), "additionalProperties", id="extra-field"),
        pytest.param(lambda: _step("offered"), _retype("released"), "type", id="released-with-offer-id"),
        pytest.param(lambda: _step("transferred", offer_id=None), _set("data.queue", None), "type", id="transfer-without-queue"),
        pytest.param(lambda: _step("released", offer_id=None), _set("data.agent_id", "bad id"), "pattern", id="agent-id-pattern"),
        pytest.param(lambda: _step("offered"), _set("subject", "conversation-1"), "format", id="subject-not-uuid"),
        pytest.param(lambda: _step("offered"), _set("data.at", "2026-12-01T09:30:12"), "format", id="naive-at"),
        pytest.param(lambda: _step("offered"), _set("type", "omniroute.assignment.assigned.v1"), "const", id="unknown-outcome"),
        pytest.param(_presence, _set("data.status", "busy"), "enum", id="wrong-status"),
        pytest.param(_presence, _set("data.previous_status", "busy"), "oneOf", id="wrong-previous"),
        pytest.param(_presence, _drop("previous_status"), "required", id="missing-previous"),
        pytest.param(_presence, _set("subject", "bad id"), "pattern", id="subject-not-agent-id"),
    ],
)  # fmt: skip
def test_broken_events_are_rejected(
    schemas: Schemas,
    build: Callable[[], Document],
    mutate: Callable[[Document], None],
    validator: str,
) -> None:
    document = build()
    validate_event(document, schemas)  # the unbroken original is valid
    broken = copy.deepcopy(document)
    mutate(broken)
    with pytest.raises(ValidationError) as raised:
        validate_event(broken, schemas)
    assert raised.value.validator == validator


# -- a desk's day, relayed to Kafka -----------------------------------------------


async def _offer_of(desk: Desk, agent_id: str, conversation: uuid.UUID) -> str:
    [offer] = [
        o
        for o in await desk.offers(agent_id)
        if o["conversation_id"] == str(conversation)
    ]
    return str(offer["id"])


async def _accept(desk: Desk, offer_id: str) -> None:
    r = await desk.answer(offer_id, "accept")
    assert r.status_code == 200, r.text


async def _transfer(
    desk: Desk, conversation: uuid.UUID, body: dict[str, object]
) -> dict[str, Any]:
    r = await desk.client.post(
        f"/v1/conversations/{conversation}/transfer", json=body, headers=AUTH
    )
    assert r.status_code == 202, r.text
    found: dict[str, Any] = r.json()
    return found


async def _outbox_ids(desk: Desk) -> dict[str, set[str]]:
    async with desk.app.state.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT topic, event_id FROM outbox WHERE topic = ANY($1::text[])",
            [ASSIGNMENTS, AGENTS],
        )
    found: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        found[row["topic"]].add(str(row["event_id"]))
    return found


async def _consume_all(
    cluster: MockKafkaCluster, expected: int, timeout: float = 15.0
) -> list[Record]:
    """Both topics from the start until `expected` distinct events have arrived."""
    consumer = AIOKafkaConsumer(
        ASSIGNMENTS,
        AGENTS,
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        async with asyncio.timeout(timeout):
            while len({json.loads(r.value)["id"] for r in records}) < expected:
                batch = await consumer.getmany(timeout_ms=200)
                for partition_records in batch.values():
                    records.extend(partition_records)
    finally:
        await consumer.stop()
    # One key lives in one partition: partition order is the key's commit order.
    return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))


def _first_deliveries(records: list[Record]) -> list[Document]:
    """Each event once (a redelivery repeats an id), in partition order."""
    seen: dict[str, Document] = {}
    for record in records:
        event: Document = json.loads(record.value)
        seen.setdefault(event["id"], event)
    return list(seen.values())


def _check_envelope(record: Record, event: Document, schemas: Schemas) -> None:
    validate_event(event, schemas)  # docs/asyncapi.yaml is the contract
    assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
    assert event["specversion"] == "1.0"
    assert str(uuid.UUID(event["id"])) == event["id"]
    assert event["source"] == PUBLIC_BASE_URL
    assert event["datacontenttype"] == "application/json"
    data = event["data"]
    time = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert time == datetime.fromisoformat(data["at"].replace("Z", "+00:00"))
    assert record.key is not None
    if record.topic == ASSIGNMENTS:
        assert event["type"] in ASSIGNMENT_TYPES
        assert record.key.decode() == data["customer_id"]
        assert event["subject"] == data["conversation_id"]
    else:
        assert record.topic == AGENTS
        assert event["type"] == AGENT_STATUS_TYPE
        assert record.key.decode() == data["agent_id"] == event["subject"]


def _outcome(event: Document) -> str:
    kind: str = event["type"]
    return kind.removeprefix("omniroute.assignment.").removesuffix(".v1")


async def test_a_desk_day_reaches_kafka_keyed_ordered_and_valid(
    desk: Desk, settings: Settings, kafka_cluster: MockKafkaCluster, schemas: Schemas
) -> None:
    kafka_cluster.create_topic(ASSIGNMENTS, partitions=3)
    kafka_cluster.create_topic(AGENTS, partitions=3)
    await desk.agent("alice")
    await desk.agent("bob", status="offline")
    await desk.agent("carol", queues=("support", "auto"), status="offline")

    # A: offered to alice, declined; offered to bob, timed out (bob goes away);
    # offered to carol, accepted.
    a = await desk.message("visitor-a")
    assert await desk.tick() == 1
    declined = await _offer_of(desk, "alice", a)
    r = await desk.client.post(
        f"/v1/offers/{declined}/decline", json={"reason": "busy"}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert await desk.tick() == 0  # never back to alice
    await desk.status("bob", "available")
    assert await desk.tick() == 1
    timed_out = await _offer_of(desk, "bob", a)
    assert await desk.tick(after_seconds=31) == 0  # past offer_timeout_seconds (30)
    assert (await desk.get_agent("bob"))["status"] == "away"
    await desk.status("carol", "available")
    assert await desk.tick() == 1
    accepted = await _offer_of(desk, "carol", a)
    await _accept(desk, accepted)

    # A: to the billing queue (carol lets go), then to alice, who accepts.
    await _transfer(desk, a, {"queue": "billing"})
    transferred = await _transfer(desk, a, {"agent_id": "alice"})
    direct = str(transferred["offer"]["id"])
    await _accept(desk, direct)

    # C: into the auto_accept queue, assigned to carol without an offer.
    c = await desk.message("visitor-c")
    await _transfer(desk, c, {"queue": "auto"})
    assert await desk.tick() == 1
    assert (await desk.conversation(c))["assigned_agent_id"] == "carol"

    # B: offered, withdrawn when its agent goes offline; then everyone but bob is
    # offline past the grace and A and C are released.
    b = await desk.message("visitor-b")
    assert await desk.tick() == 1
    holder = "alice" if await desk.offers("alice") else "carol"
    withdrawn = await _offer_of(desk, holder, b)
    await desk.status(holder, "offline")
    await desk.status("carol" if holder == "alice" else "alice", "offline")
    assert await desk.tick(after_seconds=121) == 0  # past the 120 s grace
    for conversation in (a, b, c):
        shown = await desk.conversation(conversation)
        assert (shown["assignment"], shown["assigned_agent_id"]) == ("waiting", None)

    committed = await _outbox_ids(desk)
    expected = len(committed[ASSIGNMENTS]) + len(committed[AGENTS])
    async with _running(_relay(settings, kafka_cluster)):
        records = await _consume_all(kafka_cluster, expected)

    by_id = {json.loads(r.value)["id"]: r for r in records}
    events = _first_deliveries(records)
    for event in events:
        _check_envelope(by_id[event["id"]], event, schemas)
    delivered: dict[str, set[str]] = defaultdict(set)
    for record in records:
        delivered[record.topic].add(json.loads(record.value)["id"])
    assert delivered == committed  # everything committed arrived, nothing else
    kinds = {e["type"] for e in events}
    assert kinds == ASSIGNMENT_TYPES | {AGENT_STATUS_TYPE}

    steps: dict[str, list[Document]] = defaultdict(list)
    presence: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for event in events:
        data = event["data"]
        if event["type"] == AGENT_STATUS_TYPE:
            presence[data["agent_id"]].append((data["status"], data["previous_status"]))
        else:
            steps[data["conversation_id"]].append(event)
    customers = {
        str(k): str((await desk.conversation(k))["customer_id"]) for k in (a, b, c)
    }
    assert len(set(customers.values())) == 3
    for conversation_id, told in steps.items():
        assert {e["data"]["customer_id"] for e in told} == {customers[conversation_id]}

    def story(conversation: uuid.UUID) -> list[tuple[str, str | None, str | None]]:
        return [
            (_outcome(e), e["data"]["agent_id"], e["data"]["offer_id"])
            for e in steps[str(conversation)]
        ]

    assert story(a) == [
        ("offered", "alice", declined),
        ("declined", "alice", declined),
        ("offered", "bob", timed_out),
        ("timed_out", "bob", timed_out),
        ("offered", "carol", accepted),
        ("accepted", "carol", accepted),
        ("released", "carol", None),
        ("transferred", None, None),
        ("transferred", "alice", None),
        ("offered", "alice", direct),
        ("accepted", "alice", direct),
        ("released", "alice", None),
    ]
    assert story(c) == [
        ("transferred", None, None),
        ("accepted", "carol", None),
        ("released", "carol", None),
    ]
    assert story(b) == [
        ("offered", holder, withdrawn),
        ("withdrawn", holder, withdrawn),
    ]

    # Kafka tells the same story as the assignment log (auto-accept logs "assigned").
    for conversation in (a, b, c):
        logged = [
            (h["outcome"], h["agent_id"], h["offer_id"])
            for h in await desk.history(conversation)
        ]
        published = [
            ("assigned" if (o, offer) == ("accepted", None) else o, agent, offer)
            for o, agent, offer in story(conversation)
        ]
        assert logged == published

    a_data = [e["data"] for e in steps[str(a)]]
    assert a_data[1]["reason"] == "busy"
    assert a_data[6]["reason"] == "transferred from support to queue billing"
    assert [d["queue"] for d in a_data[7:9]] == ["billing", "billing"]
    assert a_data[-1]["reason"] == "agent offline for more than 120 s"
    assert {(d["channel"], d["priority"]) for d in a_data} == {("chat", "normal")}
    c_data = [e["data"] for e in steps[str(c)]]
    assert c_data[0]["queue"] == c_data[1]["queue"] == "auto"
    assert c_data[1]["reason"].startswith("auto_accept; ")
    assert steps[str(b)][1]["data"]["reason"] == "agent went offline (status set)"

    assert presence == {
        "alice": [
            ("offline", None),
            ("available", "offline"),
            ("offline", "available"),
        ],
        "bob": [("offline", None), ("available", "offline"), ("away", "available")],
        "carol": [
            ("offline", None),
            ("available", "offline"),
            ("offline", "available"),
        ],
    }
