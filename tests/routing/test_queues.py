"""The rules file's `queues:` block: defaults, compiled settings, located errors."""

from __future__ import annotations

import pytest

from routing import AssignmentPolicy, ExpansionStep, RulesError, load_rules

HEAD = b"rules: []\ndefault: {queue: support}\n"


def test_queue_settings_compile() -> None:
    rules = load_rules(
        HEAD
        + b"queues:\n"
        + b"  billing:\n"
        + b"    policy: least_active\n"
        + b"    offer_timeout_seconds: 45\n"
        + b"    auto_accept: true\n"
        + b"    away_on_timeout: false\n"
        + b"    prefer_last_agent: false\n"
        + b"    expand:\n"
        + b"      - {after_seconds: 60, drop_skills: [billing_expert]}\n"
        + b"      - {after_seconds: 120, overflow_queue: support}\n"
    )
    billing = rules.queue_policy("billing")
    assert billing.policy is AssignmentPolicy.least_active
    assert billing.offer_timeout_seconds == 45
    assert (billing.auto_accept, billing.away_on_timeout) == (True, False)
    assert billing.prefer_last_agent is False
    assert billing.configured is True
    assert billing.expand == (
        ExpansionStep(after_seconds=60, drop_skills=("billing_expert",)),
        ExpansionStep(after_seconds=120, overflow_queue="support"),
    )


def test_a_queue_not_configured_uses_the_defaults() -> None:
    support = load_rules(HEAD).queue_policy("support")
    assert support.policy is AssignmentPolicy.most_available
    assert support.offer_timeout_seconds == 30
    assert (support.auto_accept, support.away_on_timeout) == (False, True)
    assert support.prefer_last_agent is True
    assert support.expand == ()
    assert support.configured is False


@pytest.mark.parametrize(
    ("block", "line", "fragment"),
    [
        pytest.param(
            b"queues:\n  support:\n    policy: round_robin\n",
            5,
            "policy",
            id="unknown-policy",
        ),
        pytest.param(
            b"queues:\n  support:\n    offer_timeout_seconds: 0\n",
            5,
            "offer_timeout_seconds",
            id="timeout-zero",
        ),
        pytest.param(
            b"queues:\n  support:\n    auto_accept: 'yes'\n",
            5,
            "auto_accept",
            id="not-a-bool",
        ),
        pytest.param(
            b"queues:\n  support:\n    priority: high\n",
            5,
            "priority",
            id="unknown-key",
        ),
        pytest.param(
            b"queues:\n  support:\n    expand:\n      - {after_seconds: 60}\n",
            6,
            "drop_skills or overflow_queue",
            id="step-does-nothing",
        ),
        pytest.param(
            b"queues:\n  support:\n    expand:\n"
            b"      - {after_seconds: 120, drop_skills: [a]}\n"
            b"      - {after_seconds: 60, drop_skills: [b]}\n",
            7,
            "greater than the previous step's (120)",
            id="steps-out-of-order",
        ),
        pytest.param(
            b"queues:\n  support:\n    expand:\n"
            b"      - {after_seconds: 30, overflow_queue: support}\n",
            6,
            "cannot overflow into itself",
            id="overflow-into-itself",
        ),
    ],
)
def test_bad_queue_block(block: bytes, line: int, fragment: str) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(HEAD + block)
    assert caught.value.line == line
    assert fragment in str(caught.value)
