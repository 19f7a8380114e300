"""Plain immutable values the routing engine reads and returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

CHANNELS = ("email", "sms", "whatsapp", "messenger", "instagram", "chat", "telegram")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Priority(StrEnum):
    """Routing priority; compare with `rank` or `raised_to`, not with `<` on strings."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for urgent."""
        return _PRIORITY_ORDER.index(self)

    def raised_to(self, other: Priority) -> Priority:
        """The higher of the two priorities (self when equal)."""
        return other if other.rank > self.rank else self


_PRIORITY_ORDER = tuple(Priority)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFacts:
    channel: str  # a Channel value: email, sms, whatsapp, messenger, instagram, chat
    text: str
    language: str | None  # ISO 639-1, as detected by app/ (routing.language)
    received_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerFacts:
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationState:
    """Where the customer's current conversation is routed right now."""

    is_open: bool
    queue: str
    priority: Priority
    skills: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """Everything a condition may look at for one message."""

    message: MessageFacts
    customer: CustomerFacts
    is_new_conversation: bool
    now: datetime


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled `when` entry, e.g. Condition("channel", test)."""

    name: str
    test: Callable[[Facts], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    queue: str
    priority: Priority = Priority.normal
    skills: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    escalate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    id: str
    conditions: tuple[Condition, ...]
    then: Action
    line: int  # where the rule starts in the rules file

    def matches(self, facts: Facts) -> bool:
        """True when every condition holds (a rule without conditions always matches)."""
        return all(condition.test(facts) for condition in self.conditions)


class AssignmentPolicy(StrEnum):
    """How a queue picks among eligible agents (ties: longest idle, then agent id)."""

    most_available = "most_available"  # largest free share of capacity on the channel
    least_active = "least_active"  # fewest open conversations held
    longest_idle = "longest_idle"  # longest since the last assignment


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpansionStep:
    """Applied once a conversation has waited `after_seconds`."""

    after_seconds: int
    drop_skills: tuple[str, ...] = ()
    overflow_queue: str | None = None  # its agents become eligible too


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePolicy:
    name: str
    policy: AssignmentPolicy = AssignmentPolicy.most_available
    offer_timeout_seconds: int = 30
    auto_accept: bool = False
    away_on_timeout: bool = True
    prefer_last_agent: bool = True
    expand: tuple[ExpansionStep, ...] = ()
    configured: bool = False  # False: a queue the file names only in rules


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    version: str  # first 16 hex chars of sha256 of the file bytes
    rules: tuple[Rule, ...]
    default: Action
    queues: Mapping[str, QueuePolicy] = field(default_factory=dict)

    def queue_policy(self, name: str) -> QueuePolicy:
        """The queue's settings, or the defaults for a queue not configured."""
        found = self.queues.get(name)
        return found if found is not None else QueuePolicy(name=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessHours:
    """Opening hours in one time zone; ranges are [start, end) minutes of the day."""

    zone: ZoneInfo
    weekly: tuple[tuple[tuple[int, int], ...], ...]  # index 0 = Monday
    holidays: frozenset[date] = frozenset()

    def is_open(self, now: datetime) -> bool:
        """Whether `now` (aware) falls in an opening range on a non-holiday local day."""
        local = now.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.weekly[local.weekday()])


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Where a message goes and why; stored and published as is."""

    queue: str
    priority: Priority
    skills: tuple[str, ...]
    tags: tuple[str, ...]
    rule_id: str | None  # None when the default action applied
    matched_conditions: tuple[str, ...]
    rules_version: str
    new_conversation: bool
    changed: bool  # queue or priority differs from before (always True when opening)
    escalated: bool
    previous_queue: str | None
    previous_priority: Priority | None
    language: str | None
    reason: str
