"""Policies, expansion steps, auto-accept and restarts, through the API."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.engine import URL

from tests.assignment.conftest import Desk, open_desk
from tests.conftest import AUTH


async def _into(desk: Desk, conversation: uuid.UUID, queue: str) -> None:
    r = await desk.client.post(
        f"/v1/conversations/{conversation}/transfer",
        json={"queue": queue},
        headers=AUTH,
    )
    assert r.status_code == 202, r.text


async def _busy(desk: Desk, agent_id: str, queue: str, n: int) -> None:
    """Give `agent_id` n accepted conversations in `queue` (others stay away)."""
    for k in range(n):
        conversation = await desk.message(f"{agent_id}-busy-{k}")
        await _into(desk, conversation, queue)
        r = await desk.client.post(
            f"/v1/conversations/{conversation}/transfer",
            json={"agent_id": agent_id},
            headers=AUTH,
        )
        assert r.status_code == 202, r.text
        assert (await desk.answer(r.json()["offer"]["id"], "accept")).status_code == 200


async def _unequal(desk: Desk, queue: str) -> str:
    """Big: capacity 8 with 2 active; small: capacity 2 with 1 active. Who gets
    the next conversation of `queue`?"""
    await desk.agent("big", queues=(queue,), capacity={"chat": 8})
    await desk.agent("small", queues=(queue,), capacity={"chat": 2})
    await _busy(desk, "big", queue, 2)
    await _busy(desk, "small", queue, 1)
    conversation = await desk.message("newcomer")
    await _into(desk, conversation, queue)
    assert await desk.tick() == 1
    [offer] = [o for a in ("big", "small") for o in await desk.offers(a)]
    assert offer["conversation_id"] == str(conversation)
    [record] = [
        h for h in await desk.history(conversation) if h["outcome"] == "offered"
    ]
    assert record["policy"] == (
        "most_available" if queue == "support" else "least_active"
    )
    assert record["eligible"] == 2
    return str(offer["agent_id"])


async def test_most_available_prefers_the_larger_free_share(desk: Desk) -> None:
    # big: 6/8 free (75 %) beats small: 1/2 free (50 %).
    assert await _unequal(desk, "support") == "big"


async def test_least_active_prefers_fewer_open_conversations(desk: Desk) -> None:
    # small has 1 open conversation, big has 2.
    assert await _unequal(desk, "active") == "small"


async def test_longest_idle_offers_to_who_waited_longest(desk: Desk) -> None:
    await desk.agent("first", queues=("idle",))
    await desk.agent("second", queues=("idle",))
    await _busy(desk, "first", "idle", 1)
    await _busy(desk, "second", "idle", 1)  # second was assigned last
    conversation = await desk.message("newcomer")
    await _into(desk, conversation, "idle")
    await desk.tick()
    [offer] = await desk.offers("first")
    assert offer["conversation_id"] == str(conversation)
    assert offer["queue"] == "idle"


async def test_auto_accept_assigns_without_an_offer(desk: Desk) -> None:
    await desk.agent("alice", queues=("auto",))
    conversation = await desk.message("v-1")
    await _into(desk, conversation, "auto")
    assert await desk.tick() == 1
    shown = await desk.conversation(conversation)
    assert shown["assignment"] == "assigned"
    assert shown["assigned_agent_id"] == "alice"
    assert (await desk.get_agent("alice"))["conversations"] == [str(conversation)]
    outcomes = [h["outcome"] for h in await desk.history(conversation)]
    assert outcomes[-1] == "assigned"
    assert "offered" not in outcomes


async def test_away_on_timeout_false_keeps_the_agent_available(desk: Desk) -> None:
    await desk.agent("alice", queues=("calm",))
    conversation = await desk.message("v-1")
    await _into(desk, conversation, "calm")
    await desk.tick()
    assert len(await desk.offers("alice")) == 1
    await desk.tick(after_seconds=31)
    assert (await desk.get_agent("alice"))["status"] == "available"
    assert await desk.offers("alice") == []  # timed out: never offered back
    assert (await desk.conversation(conversation))["assignment"] == "waiting"


async def test_expansion_drops_skills_then_overflows(desk: Desk) -> None:
    # Billing needs the billing skill; carol is in billing without it, dave is
    # in support only.
    await desk.agent("carol", queues=("billing",))
    dropped = await desk.message("v-1", "my invoice is wrong")
    assert (await desk.conversation(dropped))["queue"] == "billing"
    assert await desk.tick() == 0
    assert await desk.tick(after_seconds=59) == 0
    assert await desk.tick(after_seconds=61) == 1
    [offer] = await desk.offers("carol")
    assert offer["conversation_id"] == str(dropped)
    [record] = [h for h in await desk.history(dropped) if h["outcome"] == "offered"]
    assert record["expansion_step"] == 1
    assert record["excluded"] == {}
    assert (await desk.answer(offer["id"], "accept")).status_code == 200

    await desk.status("carol", "away")
    await desk.agent("dave", queues=("support",))
    overflowed = await desk.message("v-2", "invoice again")
    assert await desk.tick(after_seconds=61) == 0  # skills dropped, carol away
    assert await desk.tick(after_seconds=121) == 1
    [offer] = await desk.offers("dave")
    assert offer["conversation_id"] == str(overflowed)
    # Overflow widens the pool; the conversation stays in (and reports on) billing.
    assert offer["queue"] == "billing"
    assert (await desk.conversation(overflowed))["queue"] == "billing"
    [record] = [h for h in await desk.history(overflowed) if h["outcome"] == "offered"]
    assert record["expansion_step"] == 2


async def test_a_restart_keeps_pending_offers_and_their_deadlines(
    database_url: URL, tmp_path: Path, engine: object
) -> None:
    async with open_desk(database_url, tmp_path) as desk:
        await desk.agent("alice")
        await desk.agent("bob")
        conversation = await desk.message("v-1")
        await desk.tick()
        first = "alice" if await desk.offers("alice") else "bob"
        second = "bob" if first == "alice" else "alice"
        [offer] = await desk.offers(first)
        await desk.status(second, "offline")  # its grace timer must survive too

    async with open_desk(database_url, tmp_path) as desk:
        assert await desk.offers(first) == [offer]
        await desk.status(second, "available")
        assert await desk.tick(after_seconds=10) == 0  # not yet due
        assert await desk.offers(first) == [offer]
        await desk.tick(after_seconds=31)
        [again] = await desk.offers(second)
        assert again["conversation_id"] == str(conversation)
        assert (await desk.get_agent(first))["status"] == "away"
        outcomes = [h["outcome"] for h in await desk.history(conversation)]
        assert outcomes == ["offered", "timed_out", "offered"]


async def test_a_restart_keeps_the_offline_grace(
    database_url: URL, tmp_path: Path, engine: object
) -> None:
    async with open_desk(database_url, tmp_path) as desk:
        await desk.agent("alice")
        conversation = await desk.message("v-1")
        await desk.tick()
        [offer] = await desk.offers("alice")
        await desk.answer(offer["id"], "accept")
        await desk.status("alice", "offline")

    async with open_desk(database_url, tmp_path) as desk:
        await desk.tick(after_seconds=60)
        assert (await desk.conversation(conversation))["assignment"] == "assigned"
        await desk.tick(after_seconds=121)
        shown = await desk.conversation(conversation)
        assert shown["assignment"] == "waiting"
        assert shown["assigned_agent_id"] is None
        assert (await desk.history(conversation))[-1]["outcome"] == "released"
