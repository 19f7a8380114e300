"""Each compiled condition, matching and not, and business hours across DST and holidays."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from connectors.model import Channel
from routing import ConversationState, decide
from tests.routing import (
    BERLIN,
    MONDAY_10AM,
    NOBODY,
    conversation,
    is_matched,
    message,
    ruleset,
)


@pytest.mark.parametrize(
    ("allowed", "channel", "matches"),
    [
        pytest.param("sms", "sms", True, id="scalar"),
        pytest.param("[whatsapp, instagram]", "instagram", True, id="any-of"),
        pytest.param("[whatsapp]", Channel.whatsapp, True, id="connector-enum"),
        pytest.param("[whatsapp, instagram]", "email", False, id="other"),
    ],
)
def test_channel(allowed: str, channel: str, matches: bool) -> None:
    assert is_matched(f"{{channel: {allowed}}}", message(channel=channel)) is matches


@pytest.mark.parametrize(
    ("allowed", "language", "matches"),
    [
        pytest.param("de", "de", True, id="scalar"),
        pytest.param("[de, nl]", "nl", True, id="any-of"),
        pytest.param("[de, nl]", "fr", False, id="other"),
        pytest.param("de", None, False, id="unknown"),
    ],
)
def test_language(allowed: str, language: str | None, matches: bool) -> None:
    assert is_matched(f"{{language: {allowed}}}", message(language=language)) is matches


@pytest.mark.parametrize(
    ("patterns", "text", "matches"),
    [
        pytest.param(r"'INV-\d+'", "see INV-2026 please", True, id="searches"),
        pytest.param(r"['^x', 'INV-\d+']", "INV-1", True, id="any-of"),
        pytest.param(r"'INV-\d+'", "see inv-2026", False, id="case-sensitive"),
        pytest.param(r"'(?i)INV-\d+'", "see inv-2026", True, id="inline-flag"),
        pytest.param(r"'^INV'", "see INV-1", False, id="anchored"),
    ],
)
def test_text_matches(patterns: str, text: str, matches: bool) -> None:
    assert is_matched(f"{{text_matches: {patterns}}}", message(text)) is matches


@pytest.mark.parametrize(
    ("keywords", "text", "matches"),
    [
        pytest.param("[refund, urgent]", "I want a refund.", True, id="any-of"),
        pytest.param("refund", "REFUND!!", True, id="case-insensitive"),
        pytest.param("refund", "was it refunded?", False, id="whole-word-only"),
        pytest.param("refund", "prerefund", False, id="not-a-suffix"),
        pytest.param("'right now'", "do it RIGHT\n  now", True, id="phrase-whitespace"),
        pytest.param("'right now'", "right nowhere", False, id="phrase-whole-word"),
        pytest.param("Störung", "STÖRUNG seit heute", True, id="unicode"),
        pytest.param("'c++'", "a c++ question", True, id="symbols"),
        pytest.param("[urgent]", "nothing to see", False, id="absent"),
    ],
)
def test_keywords_any(keywords: str, text: str, matches: bool) -> None:
    assert is_matched(f"{{keywords_any: {keywords}}}", message(text)) is matches


@pytest.mark.parametrize(
    ("wanted", "tags", "matches"),
    [
        pytest.param("[vip, enterprise]", ("new", "vip"), True, id="any-of"),
        pytest.param("vip", ("VIP",), False, id="exact"),
        pytest.param("vip", (), False, id="untagged"),
    ],
)
def test_customer_tags_any(wanted: str, tags: tuple[str, ...], matches: bool) -> None:
    assert is_matched(f"{{customer_tags_any: {wanted}}}", tags=tags) is matches


@pytest.mark.parametrize(
    ("when", "text", "matches"),
    [
        pytest.param("{channel: sms, keywords_any: stop}", "STOP", True, id="all-hold"),
        pytest.param("{channel: sms, keywords_any: stop}", "go", False, id="one-fails"),
        pytest.param("{}", "anything", True, id="no-conditions"),
    ],
)
def test_all_conditions_must_hold(when: str, text: str, matches: bool) -> None:
    assert is_matched(when, message(text, channel="sms")) is matches


MONDAY_8PM = datetime(2026, 3, 30, 20, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("expected", "now", "matches"),
    [
        pytest.param("true", MONDAY_10AM, True, id="open-wants-open"),
        pytest.param("true", MONDAY_8PM, False, id="closed-wants-open"),
        pytest.param("false", MONDAY_8PM, True, id="closed-wants-closed"),
        pytest.param("false", MONDAY_10AM, False, id="open-wants-closed"),
    ],
)
def test_business_hours(expected: str, now: datetime, matches: bool) -> None:
    assert is_matched(f"{{business_hours: {expected}}}", now=now) is matches


def _utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _berlin(
    month: int, day: int, hour: int, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=BERLIN)


NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("now", "is_open"),
    [
        # Europe/Berlin springs forward on Sunday 2026-03-29 (UTC+1 -> UTC+2); open 09-17.
        pytest.param(_utc(3, 23, 7, 30), False, id="spring-before-0830-cet"),
        pytest.param(_utc(3, 30, 7, 30), True, id="spring-after-0930-cest"),
        pytest.param(_utc(3, 23, 15, 30), True, id="spring-before-1630-cet"),
        pytest.param(_utc(3, 30, 15, 30), False, id="spring-after-1730-cest"),
        pytest.param(_utc(3, 29, 10), False, id="change-day-sunday"),
        # ... and falls back on Sunday 2026-10-25 (UTC+2 -> UTC+1).
        pytest.param(_utc(10, 19, 7, 30), True, id="autumn-before-0930-cest"),
        pytest.param(_utc(10, 26, 7, 30), False, id="autumn-after-0830-cet"),
        pytest.param(_utc(10, 19, 15, 30), False, id="autumn-before-1730-cest"),
        pytest.param(_utc(10, 26, 15, 30), True, id="autumn-after-1630-cet"),
        pytest.param(
            datetime(2026, 3, 30, 3, 30, tzinfo=NEW_YORK), True, id="other-zone"
        ),
        pytest.param(_berlin(3, 30, 17), False, id="end-exclusive"),
        pytest.param(_berlin(3, 30, 16, 59, 59), True, id="just-before-end"),
        pytest.param(_berlin(3, 30, 9), True, id="start-inclusive"),
        pytest.param(_berlin(4, 1, 12, 30), False, id="lunch-gap"),
        pytest.param(_berlin(4, 1, 13), True, id="second-range"),
        pytest.param(_berlin(3, 31, 9), True, id="scalar-range"),
        pytest.param(_berlin(12, 18, 23, 59), True, id="until-midnight"),
    ],
)
def test_business_hours_across_dst(now: datetime, is_open: bool) -> None:
    assert is_matched("{business_hours: true}", now=now) is is_open


@pytest.mark.parametrize(
    ("now", "is_open"),
    [
        pytest.param(_berlin(12, 18, 12), True, id="ordinary-friday"),
        pytest.param(_berlin(12, 25, 12), False, id="christmas-friday"),
        pytest.param(_utc(12, 31, 23, 30), False, id="local-date-is-holiday"),
        pytest.param(
            datetime(2027, 1, 7, 23, 30, tzinfo=UTC), True, id="local-weekday"
        ),
    ],
)
def test_holidays(now: datetime, is_open: bool) -> None:
    assert is_matched("{business_hours: true}", now=now) is is_open


@pytest.mark.parametrize(
    ("state", "is_new"),
    [
        pytest.param(None, True, id="first-message"),
        pytest.param(conversation(is_open=False), True, id="closed-conversation"),
        pytest.param(conversation(), False, id="open-conversation"),
    ],
)
def test_new_conversation(state: ConversationState | None, is_new: bool) -> None:
    rules = ruleset("""
        rules:
          - {id: opening, when: {new_conversation: true}, then: {queue: q}}
          - {id: follow, when: {new_conversation: false}, then: {queue: q}}
        default: {queue: default}
        """)
    decision = decide(message(), NOBODY, state, rules, MONDAY_10AM)
    assert decision.new_conversation is is_new
    assert decision.rule_id == ("opening" if is_new else "follow")
    assert decision.matched_conditions == ("new_conversation",)
