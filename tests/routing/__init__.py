"""Builders shared by the routing tests: small rule files and message facts."""

from __future__ import annotations

import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

from routing import (
    ConversationState,
    CustomerFacts,
    MessageFacts,
    Priority,
    RuleSet,
    decide,
    load_rules,
)

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10AM = datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
NOBODY = CustomerFacts(tags=())
HOURS = """\
business_hours:
  timezone: Europe/Berlin
  weekly:
    mon: ["09:00-17:00"]
    tue: 09:00-17:00
    wed: ["09:00-12:00", "13:00-17:00"]
    thu: ["09:00-17:00"]
    fri: ["00:00-24:00"]
  holidays: [2026-12-25, "2027-01-01"]
"""


def ruleset(body: str) -> RuleSet:
    """The HOURS block plus `body` (dedented) as a compiled RuleSet."""
    return load_rules((HOURS + textwrap.dedent(body)).encode())


def one_rule(when: str) -> RuleSet:
    """One rule 'r' routing to queue 'matched'; anything else goes to 'default'."""
    return ruleset(f"""
        rules:
          - id: r
            when: {when}
            then: {{queue: matched}}
        default: {{queue: default}}
        """)


def message(
    text: str = "hello there", channel: str = "email", language: str | None = None
) -> MessageFacts:
    return MessageFacts(
        channel=channel, text=text, language=language, received_at=MONDAY_10AM
    )


def conversation(
    priority: Priority = Priority.normal,
    *,
    queue: str = "billing",
    is_open: bool = True,
) -> ConversationState:
    return ConversationState(
        is_open=is_open,
        queue=queue,
        priority=priority,
        skills=("billing",),
        tags=("billing", "repeat"),
    )


def is_matched(
    when: str,
    facts: MessageFacts | None = None,
    *,
    tags: tuple[str, ...] = (),
    now: datetime = MONDAY_10AM,
) -> bool:
    """Whether the one-rule file with `when` matches an opening message."""
    rules = one_rule(when)
    decision = decide(facts or message(), CustomerFacts(tags=tags), None, rules, now)
    return decision.rule_id == "r"
