"""Who gets a waiting conversation: eligibility, the queue's policy and the tie-break.

Pure: agents and the conversation come in as plain values, `now` is a parameter. The
caller (app/assignment) reads them under its lock and writes the choice back.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from routing.model import AssignmentPolicy, Priority, QueuePolicy


class Exclusion(StrEnum):
    """Why an agent could not take it: the first failing check, in this order."""

    not_available = "not_available"
    not_in_queue = "not_in_queue"
    missing_skill = "missing_skill"
    no_capacity = "no_capacity"
    declined_before = "declined_before"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentState:
    id: str
    status: str  # available | away | offline
    queues: frozenset[str]
    skills: frozenset[str]
    capacity: Mapping[str, int]  # channel -> capacity (a missing channel is 0)
    load: Mapping[str, int] = field(default_factory=dict)  # held open, per channel
    last_assigned_at: datetime | None = None  # None: never (idle the longest)

    def free(self, channel: str) -> int:
        return max(0, self.capacity.get(channel, 0) - self.load.get(channel, 0))

    @property
    def active(self) -> int:
        """Open conversations held (assigned or offered), all channels."""
        return sum(self.load.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingConversation:
    id: str
    queue: str
    channel: str
    priority: Priority
    skills: tuple[str, ...]
    waiting_since: datetime
    declined_by: frozenset[str] = frozenset()  # declined it or let it time out
    last_agent_id: str | None = None  # who last handled this customer


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    agent_id: str | None
    considered: int
    eligible: int
    excluded: Mapping[str, int]  # Exclusion value -> count, only those that occurred
    expansion_step: int  # expand steps in force (0: none)
    queues: tuple[str, ...]  # the queue and the overflow queues in force
    skills: tuple[str, ...]  # required skills after the steps' drop_skills
    last_agent: bool  # chosen as the customer's last agent
    agent_load: int | None  # the chosen agent's load on the channel before this
    agent_capacity: int | None
    agent_idle_seconds: float | None  # None: never assigned
    reason: str


class AgentPool:
    """The agents of one pass, indexed by queue so a choice looks only at available
    agents of the conversation's queues (the others are counted, not examined).
    `update` replaces an agent's state after it took a conversation."""

    __slots__ = (
        "_by_queue",
        "_free",
        "_heaps",
        "_versions",
        "available",
        "total",
        "unavailable",
    )

    def __init__(self, agents: Iterable[AgentState]) -> None:
        self.available: dict[str, AgentState] = {}
        self._by_queue: dict[str, dict[str, None]] = {}
        # Built when first asked for: agents with room per (queue, channel), and a
        # heap per (queue, channel, policy) of (policy key, version, agent id).
        self._free: dict[tuple[str, str], int] = {}
        self._heaps: dict[tuple[str, str, AssignmentPolicy], list[_Entry]] = {}
        self._versions: dict[str, int] = {}
        self.total = 0
        self.unavailable = 0
        for agent in agents:
            self.total += 1
            if agent.status != "available":
                self.unavailable += 1
                continue
            self.available[agent.id] = agent
            for queue in agent.queues:
                self._by_queue.setdefault(queue, {})[agent.id] = None

    @classmethod
    def of(cls, agents: Iterable[AgentState]) -> AgentPool:
        return cls(agents)

    def in_queues(self, queues: Sequence[str]) -> list[AgentState]:
        """Available agents that are members of any of `queues`, each once."""
        if len(queues) == 1:
            ids: Iterable[str] = self._by_queue.get(queues[0], {})
        else:
            ids = dict.fromkeys(i for q in queues for i in self._by_queue.get(q, {}))
        return [self.available[i] for i in ids]

    def free_in(self, queue: str, channel: str) -> int:
        """How many available agents of `queue` have room on `channel`."""
        key = (queue, channel)
        found = self._free.get(key)
        if found is None:
            ids = self._by_queue.get(queue, {})
            found = sum(1 for i in ids if self.available[i].free(channel) > 0)
            self._free[key] = found
        return found

    def best(
        self,
        queue: str,
        channel: str,
        policy: AssignmentPolicy,
        declined: frozenset[str],
    ) -> AgentState | None:
        """The policy's first agent of `queue` with room on `channel`, not declined."""
        heap = self._heap(queue, channel, policy)
        skipped: list[_Entry] = []
        found = None
        while heap:
            _, version, agent_id = heap[0]
            agent = self.available[agent_id]
            if version != self._versions.get(agent_id, 0) or agent.free(channel) <= 0:
                heapq.heappop(heap)  # stale, or full (loads only rise in a pass)
                continue
            if agent_id in declined:
                skipped.append(heapq.heappop(heap))
                continue
            found = agent
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

    def _heap(self, queue: str, channel: str, policy: AssignmentPolicy) -> list[_Entry]:
        key = (queue, channel, policy)
        heap = self._heaps.get(key)
        if heap is None:
            order = _policy_key(policy, channel)
            heap = [
                (order(self.available[i]), self._versions.get(i, 0), i)
                for i in self._by_queue.get(queue, {})
                if self.available[i].free(channel) > 0
            ]
            heapq.heapify(heap)
            self._heaps[key] = heap
        return heap

    def update(self, agent: AgentState) -> None:
        """The agent's new state (same status and queues, e.g. one more load)."""
        old = self.available.get(agent.id)
        if old is None:
            return
        self.available[agent.id] = agent
        version = self._versions.get(agent.id, 0) + 1
        self._versions[agent.id] = version
        for (queue, channel), count in list(self._free.items()):
            if queue in agent.queues:
                had, has = old.free(channel) > 0, agent.free(channel) > 0
                self._free[(queue, channel)] = count + (has - had)
        for (queue, channel, policy), heap in self._heaps.items():
            if queue in agent.queues and agent.free(channel) > 0:
                entry = (_policy_key(policy, channel)(agent), version, agent.id)
                heapq.heappush(heap, entry)


def steps_in_force(policy: QueuePolicy, waited_seconds: float) -> int:
    return sum(1 for step in policy.expand if waited_seconds >= step.after_seconds)


def waiting_order(
    conversations: Iterable[WaitingConversation],
) -> list[WaitingConversation]:
    """Priority (urgent first), then waiting since (oldest first), then id."""
    return sorted(
        conversations, key=lambda c: (-c.priority.rank, c.waiting_since, c.id)
    )


def with_assignment(agent: AgentState, channel: str, now: datetime) -> AgentState:
    """The agent after taking one more conversation on `channel` at `now`."""
    load = dict(agent.load)
    load[channel] = load.get(channel, 0) + 1
    return replace(agent, load=load, last_assigned_at=now)


def _exclusion(
    agent: AgentState, conversation: WaitingConversation, skills: frozenset[str]
) -> Exclusion | None:
    """For an available agent of the conversation's queues: the first check it fails."""
    if not skills <= agent.skills:
        return Exclusion.missing_skill
    if agent.free(conversation.channel) <= 0:
        return Exclusion.no_capacity
    if agent.id in conversation.declined_by:
        return Exclusion.declined_before
    return None


def _idle_key(agent: AgentState) -> tuple[int, float]:
    """Longest idle first: never assigned, then the oldest last assignment."""
    if agent.last_assigned_at is None:
        return (0, 0.0)
    return (1, agent.last_assigned_at.timestamp())


SortKey = tuple[float, int, float, str]
_Entry = tuple[SortKey, int, str]  # (policy key, version of the agent's state, id)


def _policy_key(
    policy: AssignmentPolicy, channel: str
) -> Callable[[AgentState], SortKey]:
    """Smaller is better: the policy's measure, then longest idle, then agent id."""

    def key(agent: AgentState) -> SortKey:
        if policy is AssignmentPolicy.most_available:
            measure = -agent.free(channel) / max(1, agent.capacity.get(channel, 0))
        elif policy is AssignmentPolicy.least_active:
            measure = float(agent.active)
        else:
            measure = 0.0  # longest_idle: the idle key decides
        return (measure, *_idle_key(agent), agent.id)

    return key


def choose(
    conversation: WaitingConversation,
    agents: Sequence[AgentState] | AgentPool,
    policy: QueuePolicy,
    now: datetime,
) -> Choice:
    """The agent to offer `conversation` to (None: it keeps waiting), and why."""
    waited = (now - conversation.waiting_since).total_seconds()
    step = steps_in_force(policy, waited)
    in_force = policy.expand[:step]
    overflow = tuple(s.overflow_queue for s in in_force if s.overflow_queue)
    queues = (conversation.queue, *overflow)
    dropped = {skill for s in in_force for skill in s.drop_skills}
    skills = tuple(s for s in conversation.skills if s not in dropped)
    skill_set = frozenset(skills)
    pool = agents if isinstance(agents, AgentPool) else AgentPool.of(agents)
    excluded: dict[str, int] = {}
    eligible: list[AgentState] = []
    channel = conversation.channel
    candidates = pool.in_queues(queues)
    # Everyone else was excluded by the first two checks, counted without a look.
    for bulk, count in (
        (Exclusion.not_available, pool.unavailable),
        (Exclusion.not_in_queue, len(pool.available) - len(candidates)),
    ):
        if count:
            excluded[bulk.value] = count
    if len(queues) == 1 and not skill_set:
        # The common case, without looking at every agent: free agents of the queue
        # are counted and kept in a heap in the policy's order.
        chosen, last, n_eligible = _pick_fast(conversation, pool, policy, excluded)
        n_candidates = len(candidates)
        full = n_candidates - pool.free_in(conversation.queue, channel)
        if full:
            excluded[Exclusion.no_capacity.value] = full
    else:
        for agent in candidates:
            exclusion = _exclusion(agent, conversation, skill_set)
            if exclusion is None:
                eligible.append(agent)
            else:
                excluded[exclusion.value] = excluded.get(exclusion.value, 0) + 1
        chosen, last = _pick(conversation, eligible, policy)
        n_eligible = len(eligible)
    if chosen is None:
        summary = ", ".join(f"{n} {why}" for why, n in sorted(excluded.items()))
        reason = f"no eligible agent of {pool.total} ({summary or 'none known'})"
        load = capacity = idle = None
    else:
        load, capacity = chosen.load.get(channel, 0), chosen.capacity.get(channel, 0)
        idle = (
            None
            if chosen.last_assigned_at is None
            else max(0.0, (now - chosen.last_assigned_at).total_seconds())
        )
        idle_text = "never assigned" if idle is None else f"idle {idle:.0f} s"
        why = (
            "the customer's last agent"
            if last
            else f"{policy.policy.value}: {load} of {capacity} held on {channel},"
            f" {chosen.active} active, {idle_text}"
        )
        reason = f"{chosen.id}: {why}; {n_eligible} eligible of {pool.total}"
    if step:
        reason += f"; expansion step {step}"
    return Choice(
        agent_id=chosen.id if chosen is not None else None,
        considered=pool.total,
        eligible=n_eligible,
        excluded=excluded,
        expansion_step=step,
        queues=queues,
        skills=skills,
        last_agent=last,
        agent_load=load,
        agent_capacity=capacity,
        agent_idle_seconds=idle,
        reason=reason,
    )


def _pick_fast(
    conversation: WaitingConversation,
    pool: AgentPool,
    policy: QueuePolicy,
    excluded: dict[str, int],
) -> tuple[AgentState | None, bool, int]:
    """`_pick` for one queue and no required skills, from the pool's counts and
    heap; adds the declined_before count to `excluded`. Returns (agent, chosen as
    the last agent, how many were eligible)."""
    queue, channel = conversation.queue, conversation.channel
    declined = [
        a
        for a in map(pool.available.get, conversation.declined_by)
        if a is not None and queue in a.queues and a.free(channel) > 0
    ]
    if declined:
        excluded[Exclusion.declined_before.value] = len(declined)
    n_eligible = pool.free_in(queue, channel) - len(declined)
    if n_eligible <= 0:
        return None, False, 0
    last_id = conversation.last_agent_id
    if policy.prefer_last_agent and last_id is not None:
        last = pool.available.get(last_id)
        if (
            last is not None
            and queue in last.queues
            and last.free(channel) > 0
            and last_id not in conversation.declined_by
        ):
            return last, True, n_eligible
    best = pool.best(queue, channel, policy.policy, conversation.declined_by)
    return best, False, n_eligible


def _pick(
    conversation: WaitingConversation,
    eligible: Sequence[AgentState],
    policy: QueuePolicy,
) -> tuple[AgentState | None, bool]:
    """The customer's last agent when preferred and eligible, else the policy's."""
    if not eligible:
        return None, False
    if policy.prefer_last_agent and conversation.last_agent_id is not None:
        for agent in eligible:
            if agent.id == conversation.last_agent_id:
                return agent, True
    return min(eligible, key=_policy_key(policy.policy, conversation.channel)), False
