"""load_rules(): every kind of bad file with its line and rule, version hash, example."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

import pytest

import routing
from routing import (
    CustomerFacts,
    MessageFacts,
    Priority,
    RulesError,
    decide,
    load_rules,
)
from tests.routing import BERLIN

EXAMPLE = Path(routing.__file__).parent / "rules.example.yaml"
DATA = Path(__file__).parent / "data"


def _error(source: bytes) -> RulesError:
    with pytest.raises(RulesError) as caught:
        load_rules(source)
    return caught.value


@pytest.mark.parametrize(
    "path",
    [pytest.param(path, id=path.stem) for path in sorted(DATA.glob("bad_*.yaml"))],
)
def test_bad_rules_file(path: Path) -> None:
    """Each data/bad_*.yaml states the exact error it must produce on its first line."""
    source = path.read_bytes()
    expected = source.decode().splitlines()[0].removeprefix("# error: ")
    error = _error(source)
    where = f"line {error.line}" + (
        f", rule {error.rule_id!r}" if error.rule_id else ""
    )
    assert str(error) == f"{where}: {error.message}" == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            b"", "line 1: empty document; expected 'rules' and 'default'", id="empty"
        ),
        pytest.param(
            b"# nothing\n",
            "line 1: empty document; expected 'rules' and 'default'",
            id="comments",
        ),
        pytest.param(
            b"rules: []\n\ndefault: {queue: \xff}\n",
            "line 3: not UTF-8: invalid start byte",
            id="not-utf8",
        ),
        pytest.param(
            b"rules: []\ndefault: {queue: \x07}\n",
            "line 2: invalid YAML: special characters are not allowed",
            id="control-char",
        ),
    ],
)
def test_bad_bytes(source: bytes, expected: str) -> None:
    assert str(_error(source)) == expected


def test_error_attributes() -> None:
    error = _error((DATA / "bad_unknown_field.yaml").read_bytes())
    assert (error.line, error.rule_id, error.message) == (
        6,
        "vip-sms",
        "when.priority: unknown field",
    )
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("source", "count", "tags"),
    [
        pytest.param(
            b"\xef\xbb\xbfrules: []\ndefault: {queue: q}\n", 0, (), id="utf8-bom"
        ),
        pytest.param(
            b"rules: []\ndefault: {queue: q, tags: single}\n",
            0,
            ("single",),
            id="scalar-as-list",
        ),
        pytest.param(
            b"rules:\n  - {id: a, when: {}, then: {queue: q}}\ndefault: {queue: q, tags: [a, b]}\n",
            1,
            ("a", "b"),
            id="flow-style",
        ),
        pytest.param(
            b"rules: []\ndefault: {queue: q, skills: [], tags: []}\n",
            0,
            (),
            id="empty-actions",
        ),
    ],
)
def test_good_variants(source: bytes, count: int, tags: tuple[str, ...]) -> None:
    rules = load_rules(source)
    assert (len(rules.rules), rules.default.tags) == (count, tags)


def test_version_is_sha256_prefix_of_the_bytes() -> None:
    source = EXAMPLE.read_bytes()
    assert load_rules(source).version == hashlib.sha256(source).hexdigest()[:16]
    assert load_rules(source).version == load_rules(source).version
    assert re.fullmatch(r"[0-9a-f]{16}", load_rules(source).version)


def test_version_changes_with_any_byte() -> None:
    one = load_rules(b"rules: []\ndefault: {queue: q}\n")
    other = load_rules(b"rules: []\ndefault: {queue: q}  # same rules\n")
    assert one.version != other.version


def test_compiled_rule_records_its_line_and_conditions() -> None:
    rules = load_rules(
        b"rules:\n\n  - id: a\n    when: {keywords_any: stop, channel: sms}\n    then: {queue: q}\ndefault: {queue: d}\n"
    )
    (rule,) = rules.rules
    assert (rule.id, rule.line) == ("a", 3)
    assert [condition.name for condition in rule.conditions] == [
        "channel",
        "keywords_any",
    ]
    assert (rule.then.priority, rule.then.escalate) == (Priority.normal, False)
    assert (rules.default.queue, rules.default.escalate) == ("d", False)


def test_data_file_with_every_condition_loads() -> None:
    rules = load_rules((DATA / "every_condition.yaml").read_bytes())
    names = tuple(condition.name for condition in rules.rules[0].conditions)
    assert names == (
        "channel",
        "language",
        "text_matches",
        "keywords_any",
        "customer_tags_any",
        "business_hours",
        "new_conversation",
    )


def test_example_file_loads() -> None:
    rules = load_rules(EXAMPLE.read_bytes())
    assert [rule.id for rule in rules.rules] == [
        "legal-threat",
        "vip",
        "urgent-words",
        "after-hours",
        "billing-invoice",
        "german",
        "social",
    ]
    assert rules.default.queue == "general"


def _example_queue(
    text: str, channel: str, language: str | None, tags: tuple[str, ...], now: datetime
) -> str:
    message = MessageFacts(
        channel=channel, text=text, language=language, received_at=now
    )
    rules = load_rules(EXAMPLE.read_bytes())
    return decide(message, CustomerFacts(tags=tags), None, rules, now).queue


TUESDAY_11AM = datetime(2026, 6, 2, 11, 0, tzinfo=BERLIN)
TUESDAY_11PM = datetime(2026, 6, 2, 23, 0, tzinfo=BERLIN)
CHRISTMAS_11AM = datetime(2026, 12, 25, 11, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "channel", "language", "tags", "now", "queue"),
    [
        pytest.param(
            "Ich schalte meinen Anwalt ein",
            "email",
            "de",
            ("vip",),
            TUESDAY_11AM,
            "escalations",
            id="legal-before-vip",
        ),
        pytest.param(
            "hello",
            "sms",
            None,
            ("enterprise",),
            TUESDAY_11PM,
            "vip",
            id="vip-at-night",
        ),
        pytest.param(
            "Bitte DRINGEND antworten",
            "email",
            "de",
            (),
            TUESDAY_11AM,
            "general",
            id="urgent-german",
        ),
        pytest.param(
            "where is my parcel",
            "email",
            "en",
            (),
            TUESDAY_11PM,
            "after-hours",
            id="after-hours",
        ),
        pytest.param(
            "where is my parcel",
            "email",
            "en",
            (),
            CHRISTMAS_11AM,
            "after-hours",
            id="holiday",
        ),
        pytest.param(
            "Problem with INV-2026-00042",
            "email",
            "en",
            (),
            TUESDAY_11AM,
            "billing",
            id="invoice-number",
        ),
        pytest.param(
            "Rechnung Nr. 123456 ist falsch",
            "email",
            "de",
            (),
            TUESDAY_11AM,
            "billing",
            id="rechnung",
        ),
        pytest.param(
            "Wo ist mein Paket?",
            "chat",
            "de",
            (),
            TUESDAY_11AM,
            "support-de",
            id="german",
        ),
        pytest.param(
            "where is my parcel",
            "instagram",
            "en",
            (),
            TUESDAY_11AM,
            "social",
            id="social",
        ),
        pytest.param(
            "where is my parcel",
            "email",
            "en",
            (),
            TUESDAY_11AM,
            "general",
            id="default",
        ),
    ],
)
def test_example_routes(
    text: str,
    channel: str,
    language: str | None,
    tags: tuple[str, ...],
    now: datetime,
    queue: str,
) -> None:
    assert _example_queue(text, channel, language, tags, now) == queue
