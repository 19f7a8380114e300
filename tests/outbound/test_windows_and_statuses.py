"""The pure rules behind replies: channel windows at a controllable clock, and how
delivery statuses rank (out of order, duplicates, failures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outbound import windows
from outbound.model import Status
from outbound.statuses import advance

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("channel", "age", "template", "allowed", "rule", "messaging_type", "tag"),
    [
        pytest.param("whatsapp", timedelta(hours=23, minutes=59), False, True, "whatsapp-24h", None, None, id="wa-inside"),
        pytest.param("whatsapp", timedelta(hours=24), False, False, "whatsapp-24h", None, None, id="wa-at-24h"),
        pytest.param("whatsapp", timedelta(days=3), True, True, "whatsapp-24h", None, None, id="wa-template-outside"),
        pytest.param("whatsapp", None, False, False, "whatsapp-24h", None, None, id="wa-never-wrote"),
        pytest.param("messenger", timedelta(hours=1), False, True, "messenger-24h", "RESPONSE", None, id="fb-24h"),
        pytest.param("instagram", timedelta(days=2), False, True, "messenger-human-agent-7d", "MESSAGE_TAG", "HUMAN_AGENT", id="ig-human-agent"),
        pytest.param("messenger", timedelta(days=7), False, False, "messenger-human-agent-7d", None, None, id="fb-7-days"),
        pytest.param("messenger", None, False, False, "messenger-human-agent-7d", None, None, id="fb-never-wrote"),
        pytest.param("sms", timedelta(days=400), False, True, "none", None, None, id="sms-no-window"),
        pytest.param("email", None, False, True, "none", None, None, id="email-no-window"),
        pytest.param("telegram", timedelta(days=30), False, True, "none", None, None, id="telegram"),
    ],
)  # fmt: skip
def test_windows(channel, age, template, allowed, rule, messaging_type, tag):
    last = NOW - age if age is not None else None

    verdict = windows.check(
        channel, last_inbound_at=last, now=NOW, has_template=template
    )

    assert (verdict.is_allowed, verdict.rule) == (allowed, rule)
    assert (verdict.messaging_type, verdict.tag) == (messaging_type, tag)


def test_windows_refuse_a_naive_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        windows.check(
            "sms",
            last_inbound_at=None,
            now=datetime(2026, 1, 1),  # noqa: DTZ001 - the naive clock under test
            has_template=False,
        )


S = Status


@pytest.mark.parametrize(
    ("current", "incoming", "after"),
    [
        pytest.param(S.queued, S.sent, S.sent, id="sent"),
        pytest.param(S.sent, S.delivered, S.delivered, id="delivered"),
        pytest.param(S.sent, S.read, S.read, id="read-implies-delivered"),
        pytest.param(S.read, S.delivered, None, id="never-down"),
        pytest.param(S.delivered, S.sent, None, id="late-sent"),
        pytest.param(S.delivered, S.delivered, None, id="duplicate"),
        pytest.param(S.sent, S.failed, S.failed, id="failed-after-sent"),
        pytest.param(S.delivered, S.failed, None, id="failed-after-delivered"),
        pytest.param(S.read, S.failed, None, id="failed-after-read"),
        pytest.param(S.failed, S.sent, None, id="sent-after-failed"),
        pytest.param(S.queued, S.unknown, S.unknown, id="unknown-from-queued"),
        pytest.param(S.sent, S.unknown, None, id="unknown-after-sent"),
        pytest.param(
            S.unknown, S.delivered, S.delivered, id="unknown-resolved-by-a-status"
        ),
        pytest.param(S.unknown, S.failed, S.failed, id="unknown-then-failed"),
    ],
)
def test_statuses_never_move_down(current, incoming, after):
    assert advance(current, incoming) == after
