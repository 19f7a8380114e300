"""Plain immutable values the routing engine reads and returns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
class FollowUp:
    """A survey sent on the customer's last channel after a conversation closes."""

    after_close_seconds: int
    text: str
    csat: bool = True
    template: tuple[str, str] | None = None  # (name, language) outside a window
    on_idle_close: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePolicy:
    name: str
    policy: AssignmentPolicy = AssignmentPolicy.most_available
    offer_timeout_seconds: int = 30
    auto_accept: bool = False
    away_on_timeout: bool = True
    prefer_last_agent: bool = True
    expand: tuple[ExpansionStep, ...] = ()
    follow_up: FollowUp | None = None
    configured: bool = False  # False: a queue the file names only in rules


class SlaMetric(StrEnum):
    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaPolicy:
    """Promised times for the conversations it matches (None in `when`: any)."""

    id: str
    queues: frozenset[str] | None = None
    priorities: frozenset[Priority] | None = None
    channels: frozenset[str] | None = None
    customer_tags_any: frozenset[str] | None = None
    first_response: int  # seconds
    next_response: int | None = None
    resolution: int | None = None
    business_hours: bool = False
    warn_at: float = 0.8  # share of a target after which a warning is due
    line: int = 0  # where the policy starts in the rules file

    def matches(
        self, *, queue: str, priority: Priority, channel: str, tags: Iterable[str]
    ) -> bool:
        return (
            (self.queues is None or queue in self.queues)
            and (self.priorities is None or priority in self.priorities)
            and (self.channels is None or channel in self.channels)
            and (
                self.customer_tags_any is None
                or not self.customer_tags_any.isdisjoint(tags)
            )
        )

    def target(self, metric: SlaMetric) -> int | None:
        """The metric's target in seconds (None: this policy promises nothing)."""
        found: int | None = getattr(self, metric.value)
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    version: str  # first 16 hex chars of sha256 of the file bytes
    rules: tuple[Rule, ...]
    default: Action
    queues: Mapping[str, QueuePolicy] = field(default_factory=dict)
    sla: tuple[SlaPolicy, ...] = ()  # first match applies
    business_hours: BusinessHours | None = None

    def sla_policy(
        self, *, queue: str, priority: Priority, channel: str, tags: Iterable[str]
    ) -> SlaPolicy | None:
        """The first SLA policy matching the conversation, or None."""
        tags = tuple(tags)
        for policy in self.sla:
            if policy.matches(
                queue=queue, priority=priority, channel=channel, tags=tags
            ):
                return policy
        return None

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
