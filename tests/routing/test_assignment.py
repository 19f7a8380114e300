"""routing.assignment: eligibility, the three policies, ties, expansion steps, order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from routing import AssignmentPolicy, ExpansionStep, Priority, QueuePolicy
from routing.assignment import (
    AgentPool,
    AgentState,
    WaitingConversation,
    choose,
    steps_in_force,
    waiting_order,
    with_assignment,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def agent(
    id: str,
    *,
    status: str = "available",
    queues: tuple[str, ...] = ("support",),
    skills: tuple[str, ...] = (),
    capacity: dict[str, int] | None = None,
    load: dict[str, int] | None = None,
    idle: float | None = None,
) -> AgentState:
    return AgentState(
        id=id,
        status=status,
        queues=frozenset(queues),
        skills=frozenset(skills),
        capacity={"chat": 3} if capacity is None else capacity,
        load=load or {},
        last_assigned_at=None if idle is None else NOW - timedelta(seconds=idle),
    )


def waiting(
    id: str = "c1",
    *,
    queue: str = "support",
    channel: str = "chat",
    priority: Priority = Priority.normal,
    skills: tuple[str, ...] = (),
    waited: float = 0.0,
    declined_by: tuple[str, ...] = (),
    last_agent_id: str | None = None,
) -> WaitingConversation:
    return WaitingConversation(
        id=id,
        queue=queue,
        channel=channel,
        priority=priority,
        skills=skills,
        waiting_since=NOW - timedelta(seconds=waited),
        declined_by=frozenset(declined_by),
        last_agent_id=last_agent_id,
    )


def policy(kind: str = "most_available", **settings: object) -> QueuePolicy:
    return QueuePolicy(name="support", policy=AssignmentPolicy(kind), **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "agents", "chosen"),
    [
        pytest.param(
            "most_available",
            [
                agent("big", capacity={"chat": 8}, load={"chat": 2}),
                agent("small", capacity={"chat": 2}, load={"chat": 1}),
            ],
            "big",
            id="most_available-share-8/2-beats-2/1",
        ),
        pytest.param(
            "least_active",
            [
                agent("big", capacity={"chat": 8}, load={"chat": 2}),
                agent("small", capacity={"chat": 2}, load={"chat": 1}),
            ],
            "small",
            id="least_active-fewest-open",
        ),
        pytest.param(
            "least_active",
            [
                agent("a", capacity={"chat": 3, "email": 5}, load={"email": 2}),
                agent("b", capacity={"chat": 3}, load={"chat": 1}),
            ],
            "b",
            id="least_active-counts-all-channels",
        ),
        pytest.param(
            "most_available",
            [
                agent("a", capacity={"chat": 3, "email": 5}, load={"email": 4}),
                agent("b", capacity={"chat": 3}, load={"chat": 1}),
            ],
            "a",
            id="most_available-only-the-channel",
        ),
        pytest.param(
            "longest_idle",
            [
                agent("recent", idle=10),
                agent("old", idle=600, load={"chat": 2}),
                agent("mid", idle=60),
            ],
            "old",
            id="longest_idle-oldest-assignment",
        ),
        pytest.param(
            "longest_idle",
            [agent("seen", idle=10_000), agent("never")],
            "never",
            id="longest_idle-never-assigned-first",
        ),
        pytest.param(
            "most_available",
            [agent("b", idle=100), agent("a", idle=50), agent("c", idle=100)],
            "b",
            id="tie-longest-idle-then-id",
        ),
        pytest.param(
            "least_active",
            [agent("zed"), agent("amy"), agent("kim")],
            "amy",
            id="tie-all-never-assigned-id-decides",
        ),
    ],
)
def test_policy_and_tie_break(kind: str, agents: list[AgentState], chosen: str) -> None:
    choice = choose(waiting(), agents, policy(kind), NOW)
    assert choice.agent_id == chosen
    assert choice.eligible == len(agents)
    assert choice.excluded == {}
    assert chosen in choice.reason


@pytest.mark.parametrize(
    ("agents", "conversation", "excluded"),
    [
        pytest.param(
            [agent("a", status="away"), agent("b", status="offline")],
            waiting(),
            {"not_available": 2},
            id="not-available",
        ),
        pytest.param(
            [agent("a", queues=("billing",))],
            waiting(),
            {"not_in_queue": 1},
            id="not-in-queue",
        ),
        pytest.param(
            [agent("a", skills=("de",)), agent("b", skills=("fr", "vip"))],
            waiting(skills=("de", "vip")),
            {"missing_skill": 2},
            id="needs-all-skills",
        ),
        pytest.param(
            [
                agent("a", capacity={"chat": 2}, load={"chat": 2}),
                agent("b", capacity={"email": 5}),
            ],
            waiting(),
            {"no_capacity": 2},
            id="full-and-channel-left-out",
        ),
        pytest.param(
            [agent("a"), agent("b")],
            waiting(declined_by=("a", "b")),
            {"declined_before": 2},
            id="declined-or-timed-out-before",
        ),
        pytest.param(
            [
                agent("off", status="offline", queues=("billing",)),
                agent("other", queues=("billing",)),
                agent("noskill"),
                agent("full", skills=("de",), capacity={"chat": 1}, load={"chat": 1}),
                agent("declined", skills=("de",)),
            ],
            waiting(skills=("de",), declined_by=("declined",)),
            {
                "not_available": 1,
                "not_in_queue": 1,
                "missing_skill": 1,
                "no_capacity": 1,
                "declined_before": 1,
            },
            id="first-failing-check-counts",
        ),
    ],
)
def test_nobody_eligible_is_explained(
    agents: list[AgentState],
    conversation: WaitingConversation,
    excluded: dict[str, int],
) -> None:
    choice = choose(conversation, agents, policy(), NOW)
    assert choice.agent_id is None
    assert choice.considered == len(agents)
    assert choice.eligible == 0
    assert choice.excluded == excluded
    assert choice.agent_load is None
    assert choice.reason.startswith(f"no eligible agent of {len(agents)}")


def test_eligible_ones_chosen_among_excluded() -> None:
    agents = [
        agent("away", status="away", capacity={"chat": 10}),
        agent("ok", capacity={"chat": 3}, load={"chat": 1}, idle=30),
    ]
    choice = choose(waiting(), agents, policy(), NOW)
    assert choice.agent_id == "ok"
    assert (choice.considered, choice.eligible) == (2, 1)
    assert choice.excluded == {"not_available": 1}
    assert (choice.agent_load, choice.agent_capacity) == (1, 3)
    assert choice.agent_idle_seconds == pytest.approx(30)


def test_even_distribution_five_agents_capacity_two() -> None:
    """Ten conversations over five agents of capacity 2: each gets two, under each policy."""
    for kind in AssignmentPolicy:
        agents = {f"a{i}": agent(f"a{i}", capacity={"chat": 2}) for i in range(5)}
        got: dict[str, int] = {}
        for n in range(10):
            now = NOW + timedelta(seconds=n)
            choice = choose(waiting(f"c{n}"), list(agents.values()), policy(kind), now)
            assert choice.agent_id is not None, kind
            agents[choice.agent_id] = with_assignment(
                agents[choice.agent_id], "chat", now
            )
            got[choice.agent_id] = got.get(choice.agent_id, 0) + 1
        assert got == dict.fromkeys(agents, 2), kind
        last = choose(waiting("c10"), list(agents.values()), policy(kind), NOW)
        assert last.agent_id is None
        assert last.excluded == {"no_capacity": 5}


@pytest.mark.parametrize(
    ("prefer", "last_agent", "agents", "chosen", "as_last"),
    [
        pytest.param(
            True,
            "b",
            [agent("a", idle=900), agent("b", load={"chat": 2}, idle=1)],
            "b",
            True,
            id="last-agent-eligible",
        ),
        pytest.param(
            True,
            "b",
            [agent("a"), agent("b", status="offline")],
            "a",
            False,
            id="last-agent-offline-pool-at-once",
        ),
        pytest.param(
            True,
            "b",
            [agent("a"), agent("b", capacity={"chat": 1}, load={"chat": 1})],
            "a",
            False,
            id="last-agent-full",
        ),
        pytest.param(
            False,
            "b",
            [agent("a", idle=900), agent("b", load={"chat": 2}, idle=1)],
            "a",
            False,
            id="not-preferred",
        ),
    ],
)
def test_prefer_last_agent(
    prefer: bool,
    last_agent: str,
    agents: list[AgentState],
    chosen: str,
    as_last: bool,
) -> None:
    choice = choose(
        waiting(last_agent_id=last_agent),
        agents,
        policy(prefer_last_agent=prefer),
        NOW,
    )
    assert choice.agent_id == chosen
    assert choice.last_agent is as_last
    assert ("the customer's last agent" in choice.reason) is as_last


EXPAND = (
    ExpansionStep(after_seconds=60, drop_skills=("billing_expert",)),
    ExpansionStep(after_seconds=120, overflow_queue="general"),
)


@pytest.mark.parametrize(
    ("waited", "step", "chosen", "skills", "queues"),
    [
        pytest.param(
            59, 0, None, ("billing_expert", "de"), ("support",), id="none-yet"
        ),
        pytest.param(60, 1, "generalist", ("de",), ("support",), id="drop-skill"),
        pytest.param(
            120, 2, "generalist", ("de",), ("support", "general"), id="overflow"
        ),
    ],
)
def test_expansion_steps(
    waited: float,
    step: int,
    chosen: str | None,
    skills: tuple[str, ...],
    queues: tuple[str, ...],
) -> None:
    agents = [agent("generalist", skills=("de",), idle=5)]
    conversation = waiting(skills=("billing_expert", "de"), waited=waited)
    choice = choose(conversation, agents, policy(expand=EXPAND), NOW)
    assert (choice.expansion_step, choice.skills, choice.queues) == (
        step,
        skills,
        queues,
    )
    assert choice.agent_id == chosen


def test_overflow_queue_agents_join_the_pool() -> None:
    agents = [agent("outsider", queues=("general",))]
    early = choose(waiting(waited=119), agents, policy(expand=EXPAND), NOW)
    assert early.agent_id is None
    assert early.excluded == {"not_in_queue": 1}
    late = choose(waiting(waited=121), agents, policy(expand=EXPAND), NOW)
    assert late.agent_id == "outsider"
    assert late.reason.endswith("expansion step 2")


@pytest.mark.parametrize(
    ("waited", "expected"), [(0, 0), (59.9, 0), (60, 1), (119, 1), (120, 2), (1e6, 2)]
)
def test_steps_in_force(waited: float, expected: int) -> None:
    assert steps_in_force(policy(expand=EXPAND), waited) == expected


def test_waiting_order_priority_then_age_then_id() -> None:
    line = [
        waiting("old-low", priority=Priority.low, waited=900),
        waiting("new-urgent", priority=Priority.urgent, waited=1),
        waiting("b-normal", waited=60),
        waiting("a-normal", waited=60),
        waiting("older-normal", waited=300),
        waiting("high", priority=Priority.high, waited=5),
    ]
    assert [c.id for c in waiting_order(line)] == [
        "new-urgent",
        "high",
        "older-normal",
        "a-normal",
        "b-normal",
        "old-low",
    ]


def test_with_assignment_takes_capacity_and_resets_idle() -> None:
    before = agent("a", capacity={"chat": 2}, load={"chat": 1}, idle=500)
    after = with_assignment(before, "chat", NOW)
    assert after.load == {"chat": 2}
    assert after.free("chat") == 0
    assert after.last_assigned_at == NOW
    assert before.load == {"chat": 1}


@pytest.mark.parametrize("policy", list(AssignmentPolicy))
def test_the_indexed_choice_agrees_with_looking_at_every_agent(
    policy: AssignmentPolicy,
) -> None:
    """Without required skills the choice uses the pool's counts and heap; with a
    skill every agent has, it looks at each agent. Both must pick alike, pass after
    pass, as loads rise, with declines, last agents and full agents."""
    rng = random.Random(20261203)
    start = datetime(2026, 12, 3, 9, tzinfo=UTC)
    agents = [
        AgentState(
            id=f"agent-{n:02}",
            status=rng.choice(["available"] * 4 + ["away", "offline"]),
            queues=frozenset(
                rng.sample(["support", "billing", "sales"], rng.randint(1, 2))
            ),
            skills=frozenset({"x"}),
            capacity={"chat": rng.randint(0, 4), "sms": rng.randint(0, 2)},
            load={"chat": rng.randint(0, 2)},
            last_assigned_at=None
            if n % 5 == 0
            else start - timedelta(seconds=rng.randint(0, 900)),
        )
        for n in range(40)
    ]
    queue_policy = QueuePolicy(name="support", policy=policy)
    fast, slow = AgentPool.of(agents), AgentPool.of(agents)
    states_fast = {a.id: a for a in agents}
    states_slow = dict(states_fast)
    for n in range(120):
        declined = frozenset(rng.sample([a.id for a in agents], rng.randint(0, 3)))
        base = {
            "id": f"c-{n}",
            "queue": rng.choice(["support", "billing"]),
            "channel": rng.choice(["chat", "chat", "sms"]),
            "priority": Priority.normal,
            "waiting_since": start,
            "declined_by": declined,
            "last_agent_id": rng.choice([None, None, agents[rng.randrange(40)].id]),
        }
        now = start + timedelta(seconds=n)
        a = choose(WaitingConversation(skills=(), **base), fast, queue_policy, now)
        b = choose(WaitingConversation(skills=("x",), **base), slow, queue_policy, now)
        assert (a.agent_id, a.eligible, dict(a.excluded), a.last_agent) == (
            b.agent_id,
            b.eligible,
            dict(b.excluded),
            b.last_agent,
        ), n
        if a.agent_id is not None:
            channel = str(base["channel"])
            states_fast[a.agent_id] = with_assignment(
                states_fast[a.agent_id], channel, now
            )
            states_slow[a.agent_id] = with_assignment(
                states_slow[a.agent_id], channel, now
            )
            fast.update(states_fast[a.agent_id])
            slow.update(states_slow[a.agent_id])
