"""decide(): actions, first match wins, default, stickiness, escalation, reasons."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from routing import CustomerFacts, Decision, MessageFacts, Priority, decide
from tests.routing import MONDAY_10AM, NOBODY, conversation, message, one_rule, ruleset

RULES = ruleset("""
    rules:
      - id: vip-whatsapp
        when: {channel: whatsapp, customer_tags_any: vip}
        then: {queue: vip, priority: high, skills: [vip-care], tags: [vip]}
      - id: whatsapp
        when: {channel: whatsapp}
        then: {queue: social, skills: social-media, tags: [social, whatsapp]}
      - id: legal
        when: {keywords_any: lawyer}
        then: {queue: escalations, priority: urgent, skills: [lead], tags: [legal], escalate: true}
      - id: urgent
        when: {keywords_any: [urgent, dringend]}
        then: {queue: general, priority: urgent, tags: [urgent]}
      - id: quiet
        when: {keywords_any: thanks}
        then: {queue: general, priority: low, tags: [thanked]}
      - id: invoice
        when: {keywords_any: invoice}
        then: {queue: billing, priority: normal, skills: [billing-2], tags: [billing]}
    default: {queue: general, tags: [triage, triage]}
    """)
VIP = CustomerFacts(tags=("vip",))


def _opening(
    text: str, channel: str = "sms", customer: CustomerFacts = NOBODY
) -> Decision:
    return decide(message(text, channel), customer, None, RULES, MONDAY_10AM)


def _routed(decision: Decision) -> tuple[object, ...]:
    return (decision.queue, decision.priority, decision.skills, decision.tags)


@pytest.mark.parametrize(
    ("decision", "routed", "rule_id", "matched"),
    [
        pytest.param(
            _opening("hi", "whatsapp", VIP),
            ("vip", Priority.high, ("vip-care",), ("vip",)),
            "vip-whatsapp",
            ("channel", "customer_tags_any"),
            id="first-of-two-matches-wins",
        ),
        pytest.param(
            _opening("hi", "whatsapp"),
            ("social", Priority.normal, ("social-media",), ("social", "whatsapp")),
            "whatsapp",
            ("channel",),
            id="priority-defaults-to-normal",
        ),
        pytest.param(
            _opening("my lawyer will call"),
            ("escalations", Priority.urgent, ("lead",), ("legal",)),
            "legal",
            ("keywords_any",),
            id="escalate-on-opening-routes-as-usual",
        ),
        pytest.param(
            _opening("hello"),
            ("general", Priority.normal, (), ("triage",)),
            None,
            (),
            id="default-without-repeated-tags",
        ),
    ],
)
def test_opening_message(
    decision: Decision,
    routed: tuple[object, ...],
    rule_id: str | None,
    matched: tuple[str, ...],
) -> None:
    assert _routed(decision) == routed
    assert (decision.rule_id, decision.matched_conditions) == (rule_id, matched)
    assert (decision.new_conversation, decision.changed, decision.escalated) == (
        True,
        True,
        False,
    )
    assert (decision.previous_queue, decision.previous_priority) == (None, None)


@pytest.mark.parametrize(
    ("text", "before", "routed", "changed"),
    [
        pytest.param(
            "this is urgent",
            Priority.normal,
            ("billing", Priority.urgent, ("billing",), ("billing", "repeat", "urgent")),
            True,
            id="priority-rises",
        ),
        pytest.param(
            "thanks a lot",
            Priority.high,
            ("billing", Priority.high, ("billing",), ("billing", "repeat", "thanked")),
            False,
            id="priority-never-lowers",
        ),
        pytest.param(
            "about my invoice",
            Priority.normal,
            ("billing", Priority.normal, ("billing",), ("billing", "repeat")),
            False,
            id="same-priority-keeps-skills",
        ),
        pytest.param(
            "my lawyer will call",
            Priority.normal,
            ("escalations", Priority.urgent, ("lead",), ("billing", "repeat", "legal")),
            True,
            id="escalate-moves-queue-and-skills",
        ),
        pytest.param(
            "hello again",
            Priority.low,
            ("billing", Priority.low, ("billing",), ("billing", "repeat")),
            False,
            id="no-match-keeps-everything",
        ),
    ],
)
def test_follow_up_is_sticky(
    text: str, before: Priority, routed: tuple[object, ...], changed: bool
) -> None:
    decision = decide(message(text), NOBODY, conversation(before), RULES, MONDAY_10AM)
    assert _routed(decision) == routed
    assert decision.changed is changed
    assert not decision.new_conversation
    assert (decision.previous_queue, decision.previous_priority) == ("billing", before)


@pytest.mark.parametrize(
    ("text", "before", "reason"),
    [
        pytest.param(
            "this is urgent",
            Priority.normal,
            "follow-up keeps queue billing; priority raised to urgent by rule urgent",
            id="raised",
        ),
        pytest.param(
            "thanks",
            Priority.high,
            "follow-up keeps queue billing and priority high; rule quiet matched keywords_any",
            id="kept",
        ),
        pytest.param(
            "lawyer",
            Priority.normal,
            "rule legal matched keywords_any and escalates: "
            "queue billing -> escalations, priority urgent",
            id="escalated",
        ),
        pytest.param(
            "hello",
            Priority.low,
            "follow-up keeps queue billing and priority low; no rule matched",
            id="no-match",
        ),
    ],
)
def test_follow_up_reason(text: str, before: Priority, reason: str) -> None:
    decision = decide(message(text), NOBODY, conversation(before), RULES, MONDAY_10AM)
    assert decision.reason == reason


@pytest.mark.parametrize(
    ("decision", "reason"),
    [
        pytest.param(
            _opening("hi", "whatsapp", VIP),
            "rule vip-whatsapp matched channel, customer_tags_any",
            id="matched",
        ),
        pytest.param(_opening("hi"), "no rule matched; default action", id="default"),
        pytest.param(
            decide(message(), NOBODY, None, one_rule("{}"), MONDAY_10AM),
            "rule r matched (no conditions)",
            id="no-conditions",
        ),
    ],
)
def test_opening_reason(decision: Decision, reason: str) -> None:
    assert decision.reason == reason


@pytest.mark.parametrize(
    ("queue", "before", "changed"),
    [
        pytest.param("billing", Priority.normal, True, id="moved"),
        pytest.param("escalations", Priority.high, True, id="same-queue-raised"),
        pytest.param("escalations", Priority.urgent, False, id="already-there"),
    ],
)
def test_escalation(queue: str, before: Priority, changed: bool) -> None:
    state = conversation(before, queue=queue)
    decision = decide(message("lawyer"), NOBODY, state, RULES, MONDAY_10AM)
    assert (decision.queue, decision.priority) == ("escalations", Priority.urgent)
    assert (decision.escalated, decision.changed) == (True, changed)


def test_reopening_a_closed_conversation_routes_afresh() -> None:
    closed = conversation(Priority.urgent, queue="escalations", is_open=False)
    decision = decide(message("hello"), NOBODY, closed, RULES, MONDAY_10AM)
    assert _routed(decision) == ("general", Priority.normal, (), ("triage",))
    assert (decision.new_conversation, decision.previous_queue) == (True, None)


def test_decision_records_version_and_language() -> None:
    rules = one_rule("{language: de}")
    facts = MessageFacts(
        channel="chat", text="Hallo", language="de", received_at=MONDAY_10AM
    )
    decision = decide(facts, NOBODY, None, rules, MONDAY_10AM)
    assert (decision.rules_version, decision.language) == (rules.version, "de")


def test_naive_now_is_rejected() -> None:
    naive = datetime(2026, 3, 30, 10, 0)  # noqa: DTZ001 - the case under test
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(message(), NOBODY, None, RULES, naive)


def test_decision_and_rules_are_immutable() -> None:
    decision = _opening("hello")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.queue = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES.version = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("current", "other", "expected"),
    [
        pytest.param(
            Priority.low, Priority.normal, Priority.normal, id="low-to-normal"
        ),
        pytest.param(
            Priority.high, Priority.urgent, Priority.urgent, id="high-to-urgent"
        ),
        pytest.param(Priority.urgent, Priority.low, Priority.urgent, id="never-lowers"),
        pytest.param(Priority.normal, Priority.normal, Priority.normal, id="equal"),
    ],
)
def test_priority_raised_to(
    current: Priority, other: Priority, expected: Priority
) -> None:
    assert current.raised_to(other) is expected


def test_priority_ranks_low_to_urgent() -> None:
    ranks = [priority.rank for priority in Priority]
    assert ranks == [0, 1, 2, 3]
    assert list(Priority) == [
        Priority.low,
        Priority.normal,
        Priority.high,
        Priority.urgent,
    ]
