"""The rules file's shape (pydantic, extra="forbid") and its compilation to model values.

Validators resolve what can fail once, at load: regexes, time zones, time ranges.
`routing.rules` locates errors by line; this module only knows the shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Annotated, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from routing.model import (
    Action,
    AssignmentPolicy,
    BusinessHours,
    Condition,
    ExpansionStep,
    Facts,
    FollowUp,
    Priority,
    QueuePolicy,
    Rule,
    SlaPolicy,
)

T = TypeVar("T")


def _listify(value: object) -> object:
    """A scalar stands for a one-element list."""
    return value if isinstance(value, list) else [value]


def _name(value: object) -> object:
    if isinstance(value, str) and (not value.strip() or value != value.strip()):
        raise ValueError(
            f"{value!r} must be a non-empty name without surrounding spaces"
        )
    return value


def _language(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(r"[a-z]{2}", value):
        raise ValueError(f"{value!r} is not a lower-case ISO 639-1 code like 'de'")
    return value


def _keyword(value: object) -> object:
    if isinstance(value, str) and not value.split():
        raise ValueError("a keyword must contain a word")
    return value


def _regex(value: object) -> object:
    try:
        return re.compile(value) if isinstance(value, str) else value
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None


def _zone(value: object) -> object:
    try:
        return ZoneInfo(value) if isinstance(value, str) else value
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None


def _time_range(value: object) -> tuple[int, int]:
    """'09:00-17:30' -> (540, 1050), minutes of the day; the end may be 24:00."""
    pattern = r"(\d\d):([0-5]\d)-(\d\d):([0-5]\d)"
    found = re.fullmatch(pattern, value) if isinstance(value, str) else None
    if not found:
        raise ValueError(f"{value!r} is not a time range like '09:00-17:00'")
    hour, minute, end_hour, end_minute = map(int, found.groups())
    start, end = hour * 60 + minute, end_hour * 60 + end_minute
    if hour > 23 or end > 24 * 60 or start >= end:
        message = "needs 00:00 <= start < end <= 24:00 (split ranges at midnight)"
        raise ValueError(f"{value!r}: {message}")
    return (start, end)


_Name = Annotated[str, Field(strict=True, max_length=100), BeforeValidator(_name)]
_AnyOf = Annotated[tuple[T, ...], Field(min_length=1), BeforeValidator(_listify)]
_Names = Annotated[tuple[_Name, ...], BeforeValidator(_listify)]
_Regex = Annotated[re.Pattern[str], BeforeValidator(_regex)]
_Language = Annotated[str, Field(strict=True), BeforeValidator(_language)]
_Keyword = Annotated[str, Field(strict=True), BeforeValidator(_keyword)]
_Zone = Annotated[ZoneInfo, BeforeValidator(_zone)]
_TimeRange = Annotated[tuple[int, int], BeforeValidator(_time_range)]
_Ranges = Annotated[tuple[_TimeRange, ...], BeforeValidator(_listify)]
_RuleId = Annotated[
    str, Field(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
]
_Channel = Literal[
    "email", "sms", "whatsapp", "messenger", "instagram", "chat", "telegram"
]
_Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 365 * 86400


def _duration(value: object) -> int:
    """'90s', '15m', '4h', '2d' -> seconds (1 s .. 365 d)."""
    found = (
        re.fullmatch(r"([0-9]{1,6})([smhd])", value) if isinstance(value, str) else None
    )
    if not found:
        raise ValueError(f"{value!r} is not a duration like '90s', '15m', '4h' or '2d'")
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if not 1 <= seconds <= MAX_DURATION:
        raise ValueError(f"{value!r} must be between 1s and 365d")
    return seconds


_Duration = Annotated[int, BeforeValidator(_duration)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class WhenSpec(_Spec):
    channel: _AnyOf[_Channel] | None = None
    language: _AnyOf[_Language] | None = None
    text_matches: _AnyOf[_Regex] | None = None
    keywords_any: _AnyOf[_Keyword] | None = None
    customer_tags_any: _AnyOf[_Name] | None = None
    business_hours: StrictBool | None = None
    new_conversation: StrictBool | None = None


class DefaultSpec(_Spec):
    queue: _Name
    priority: Priority = Priority.normal
    skills: _Names = ()
    tags: _Names = ()

    def compile(self) -> Action:
        """The action as a model value."""
        return Action(
            queue=self.queue, priority=self.priority, skills=self.skills, tags=self.tags
        )


class ThenSpec(DefaultSpec):
    escalate: StrictBool = False

    def compile(self) -> Action:
        """The action as a model value, with `escalate`."""
        return replace(super().compile(), escalate=self.escalate)


class RuleSpec(_Spec):
    id: _RuleId
    when: WhenSpec
    then: ThenSpec

    def compile(self, hours: BusinessHours | None, line: int) -> Rule:
        """The rule with its conditions resolved (`hours` must be set if it uses them)."""
        conditions = tuple(_conditions(self.when, hours))
        return Rule(
            id=self.id, conditions=conditions, then=self.then.compile(), line=line
        )


class HoursSpec(_Spec):
    timezone: _Zone
    weekly: dict[_Weekday, _Ranges]
    holidays: tuple[date, ...] = ()

    def compile(self) -> BusinessHours:
        """Opening ranges indexed by weekday (0 = Monday); a missing day is closed."""
        weekly = tuple(self.weekly.get(day, ()) for day in get_args(_Weekday))
        return BusinessHours(
            zone=self.timezone, weekly=weekly, holidays=frozenset(self.holidays)
        )


class StepSpec(_Spec):
    after_seconds: Annotated[int, Field(strict=True, ge=1, le=30 * 86400)]
    drop_skills: _Names = ()
    overflow_queue: _Name | None = None

    @model_validator(mode="after")
    def _does_something(self) -> StepSpec:
        if not self.drop_skills and self.overflow_queue is None:
            raise ValueError("a step needs drop_skills or overflow_queue")
        return self

    def compile(self) -> ExpansionStep:
        return ExpansionStep(
            after_seconds=self.after_seconds,
            drop_skills=self.drop_skills,
            overflow_queue=self.overflow_queue,
        )


class TemplateSpec(_Spec):
    name: Annotated[str, Field(strict=True, min_length=1, max_length=512)]
    language: Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_-]{2,35}$")]


class FollowUpSpec(_Spec):
    after_close: _Duration
    text: Annotated[str, Field(strict=True, min_length=1, max_length=1000)]
    csat: StrictBool = True
    template: TemplateSpec | None = None
    on_idle_close: StrictBool = False

    def compile(self) -> FollowUp:
        template = (
            (self.template.name, self.template.language) if self.template else None
        )
        return FollowUp(
            after_close_seconds=self.after_close,
            text=self.text,
            csat=self.csat,
            template=template,
            on_idle_close=self.on_idle_close,
        )


class QueueSpec(_Spec):
    policy: AssignmentPolicy = AssignmentPolicy.most_available
    offer_timeout_seconds: Annotated[int, Field(strict=True, ge=1, le=86400)] = 30
    auto_accept: StrictBool = False
    away_on_timeout: StrictBool = True
    prefer_last_agent: StrictBool = True
    expand: tuple[StepSpec, ...] = ()
    follow_up: FollowUpSpec | None = None

    def compile(self, name: str) -> QueuePolicy:
        return QueuePolicy(
            name=name,
            policy=self.policy,
            offer_timeout_seconds=self.offer_timeout_seconds,
            auto_accept=self.auto_accept,
            away_on_timeout=self.away_on_timeout,
            prefer_last_agent=self.prefer_last_agent,
            expand=tuple(step.compile() for step in self.expand),
            follow_up=self.follow_up.compile() if self.follow_up else None,
            configured=True,
        )


class SlaWhenSpec(_Spec):
    queue: _AnyOf[_Name] | None = None
    priority: _AnyOf[Priority] | None = None
    channel: _AnyOf[_Channel] | None = None
    customer_tags_any: _AnyOf[_Name] | None = None


class SlaSpec(_Spec):
    id: _RuleId
    when: SlaWhenSpec = SlaWhenSpec()
    first_response: _Duration
    next_response: _Duration | None = None
    resolution: _Duration | None = None
    business_hours: StrictBool = False
    warn_at: Annotated[float, Field(gt=0, lt=1)] = 0.8

    def compile(self, line: int) -> SlaPolicy:
        def some(values: tuple[T, ...] | None) -> frozenset[T] | None:
            return frozenset(values) if values is not None else None

        return SlaPolicy(
            id=self.id,
            queues=some(self.when.queue),
            priorities=some(self.when.priority),
            channels=some(self.when.channel),
            customer_tags_any=some(self.when.customer_tags_any),
            first_response=self.first_response,
            next_response=self.next_response,
            resolution=self.resolution,
            business_hours=self.business_hours,
            warn_at=self.warn_at,
            line=line,
        )


class RulesFile(_Spec):
    rules: tuple[RuleSpec, ...]
    default: DefaultSpec
    business_hours: HoursSpec | None = None
    queues: dict[_Name, QueueSpec] = {}
    sla: tuple[SlaSpec, ...] = ()

    def compile_hours(self) -> BusinessHours | None:
        return self.business_hours.compile() if self.business_hours else None

    def compile_sla(self, lines: Sequence[int]) -> tuple[SlaPolicy, ...]:
        """Every SLA policy compiled; `lines[i]` is where policy i starts."""
        return tuple(
            policy.compile(line) for policy, line in zip(self.sla, lines, strict=True)
        )

    def compile_queues(self) -> dict[str, QueuePolicy]:
        return {name: spec.compile(name) for name, spec in self.queues.items()}

    def compile_rules(self, lines: Sequence[int]) -> tuple[Rule, ...]:
        """Every rule compiled; `lines[i]` is where rule i starts."""
        hours = self.business_hours.compile() if self.business_hours else None
        return tuple(
            rule.compile(hours, line)
            for rule, line in zip(self.rules, lines, strict=True)
        )


def _conditions(when: WhenSpec, hours: BusinessHours | None) -> Iterable[Condition]:
    """One Condition per `when` entry, in a fixed order (that of `matched_conditions`)."""
    if when.channel:
        yield _member("channel", when.channel, lambda facts: facts.message.channel)
    if when.language:
        yield _member("language", when.language, lambda facts: facts.message.language)
    if when.text_matches:
        yield _searches("text_matches", when.text_matches)
    if when.keywords_any:
        yield _searches("keywords_any", (_keywords(when.keywords_any),))
    if when.customer_tags_any:
        tags = frozenset(when.customer_tags_any)
        yield Condition(
            "customer_tags_any", lambda facts: not tags.isdisjoint(facts.customer.tags)
        )
    if when.business_hours is not None and hours is not None:
        is_open = hours.is_open
        yield _flag(
            "business_hours", when.business_hours, lambda facts: is_open(facts.now)
        )
    if when.new_conversation is not None:
        is_new = when.new_conversation
        yield _flag("new_conversation", is_new, lambda facts: facts.is_new_conversation)


def _member(
    name: str, values: Iterable[str], pick: Callable[[Facts], str | None]
) -> Condition:
    allowed = frozenset(values)
    return Condition(name, lambda facts: pick(facts) in allowed)


def _searches(name: str, patterns: tuple[re.Pattern[str], ...]) -> Condition:
    return Condition(
        name, lambda facts: any(p.search(facts.message.text) for p in patterns)
    )


def _flag(name: str, expected: bool, probe: Callable[[Facts], bool]) -> Condition:
    return Condition(name, lambda facts: probe(facts) is expected)


def _keywords(keywords: Iterable[str]) -> re.Pattern[str]:
    """Whole words, case-insensitive; a space inside a keyword matches any whitespace."""
    words = "|".join(
        r"\s+".join(map(re.escape, keyword.split())) for keyword in keywords
    )
    return re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
