"""Conversations reach agents through the API: offers, answers, capacity, fairness."""

from __future__ import annotations

import uuid

from tests.assignment.conftest import Desk
from tests.conftest import AUTH


async def test_a_new_conversation_is_offered_and_accepted(desk: Desk) -> None:
    await desk.agent("alice")
    conversation = await desk.message("v-1")
    assert (await desk.conversation(conversation))["assignment"] == "waiting"

    assert await desk.tick() == 1
    [offer] = await desk.offers("alice")
    assert offer["conversation_id"] == str(conversation)
    assert offer["status"] == "pending"
    assert offer["channel"] == "chat"
    shown = await desk.conversation(conversation)
    assert shown["assignment"] == "offered"
    assert shown["assigned_agent_id"] is None
    assert shown["waiting_since"] is not None

    accepted = await desk.answer(offer["id"], "accept")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    shown = await desk.conversation(conversation)
    assert shown["assignment"] == "assigned"
    assert shown["assigned_agent_id"] == "alice"
    assert shown["waiting_since"] is None
    agent = await desk.get_agent("alice")
    assert agent["conversations"] == [str(conversation)]
    assert agent["load"]["chat"] == 1
    assert agent["free"]["chat"] == 2
    assert (await desk.answer(offer["id"], "accept")).status_code == 409

    [offered, taken] = await desk.history(conversation)
    assert offered["outcome"] == "offered"
    assert offered["policy"] == "most_available"
    assert offered["considered"] == 1
    assert offered["eligible"] == 1
    assert offered["agent_capacity"] == 3
    assert offered["agent_load"] == 0
    assert taken["outcome"] == "accepted"
    assert taken["agent_id"] == "alice"


async def test_even_distribution_five_agents_of_capacity_two(desk: Desk) -> None:
    for n in range(5):
        await desk.agent(f"agent-{n}", capacity={"chat": 2})
    for n in range(10):
        await desk.message(f"visitor-{n}")
    assert await desk.tick() == 10
    for n in range(5):
        assert len(await desk.offers(f"agent-{n}")) == 2
    await desk.message("visitor-extra")
    assert await desk.tick() == 0  # everyone is full: it waits
    agent = await desk.get_agent("agent-0")
    assert agent["free"]["chat"] == 0  # type: ignore[index]


async def test_follow_ups_stay_with_the_agent(desk: Desk) -> None:
    await desk.agent("alice")
    await desk.agent("bob")
    conversation = await desk.message("v-1")
    await desk.tick()
    holder = "alice" if await desk.offers("alice") else "bob"
    [offer] = await desk.offers(holder)
    await desk.answer(offer["id"], "accept")
    assert await desk.message("v-1", "and another thing") == conversation
    assert await desk.tick() == 0
    shown = await desk.conversation(conversation)
    assert shown["assigned_agent_id"] == holder


async def test_decline_reoffers_to_the_next_and_never_back(desk: Desk) -> None:
    await desk.agent("alice")
    await desk.agent("bob")
    conversation = await desk.message("v-1")
    await desk.tick()
    first = "alice" if await desk.offers("alice") else "bob"
    second = "bob" if first == "alice" else "alice"
    [offer] = await desk.offers(first)
    r = await desk.client.post(
        f"/v1/offers/{offer['id']}/decline", json={"reason": "busy"}, headers=AUTH
    )
    assert r.status_code == 200
    assert r.json()["status"] == "declined"
    await desk.tick()
    [again] = await desk.offers(second)
    assert again["conversation_id"] == str(conversation)
    await desk.answer(again["id"], "decline")
    await desk.tick()
    assert await desk.offers(first) == []
    assert await desk.offers(second) == []
    assert (await desk.conversation(conversation))["assignment"] == "waiting"
    outcomes = [h["outcome"] for h in await desk.history(conversation)]
    assert outcomes == ["offered", "declined", "offered", "declined"]


async def test_timeout_reoffers_and_sets_the_agent_away(desk: Desk) -> None:
    await desk.agent("alice")
    await desk.agent("bob")
    conversation = await desk.message("v-1")
    await desk.tick()
    first = "alice" if await desk.offers("alice") else "bob"
    second = "bob" if first == "alice" else "alice"
    await desk.tick(after_seconds=31)  # past offer_timeout_seconds (30)
    assert (await desk.get_agent(first))["status"] == "away"
    [again] = await desk.offers(second)
    assert again["conversation_id"] == str(conversation)
    outcomes = [h["outcome"] for h in await desk.history(conversation)]
    assert outcomes == ["offered", "timed_out", "offered"]


async def test_backfill_by_priority_then_age_when_capacity_frees(desk: Desk) -> None:
    await desk.agent("alice", capacity={"chat": 1})
    held = await desk.message("v-0")
    await desk.tick()
    [offer] = await desk.offers("alice")
    await desk.answer(offer["id"], "accept")
    older = await desk.message("v-1")
    newer_urgent = await desk.message("v-2", "outage everywhere")
    await desk.tick()
    assert (await desk.conversation(older))["assignment"] == "waiting"
    r = await desk.client.post(f"/v1/conversations/{held}/close", headers=AUTH)
    assert r.status_code == 200
    await desk.tick()
    [offer] = await desk.offers("alice")
    assert offer["conversation_id"] == str(newer_urgent)
    assert offer["priority"] == "urgent"
    assert (await desk.conversation(older))["assignment"] == "waiting"


async def test_away_agents_keep_conversations_and_get_no_offers(desk: Desk) -> None:
    await desk.agent("alice", status="away")
    conversation = await desk.message("v-1")
    assert await desk.tick() == 0
    assert await desk.offers("alice") == []
    await desk.status("alice", "available")
    assert await desk.tick() == 1
    [offer] = await desk.offers("alice")
    assert offer["conversation_id"] == str(conversation)


async def test_offline_withdraws_offers_and_releases_after_the_grace(
    desk: Desk,
) -> None:
    await desk.agent("alice")
    offered = await desk.message("v-1")
    kept = await desk.message("v-2")
    await desk.tick()
    offers = {o["conversation_id"]: o for o in await desk.offers("alice")}
    await desk.answer(offers[str(kept)]["id"], "accept")
    await desk.status("alice", "offline")
    assert await desk.offers("alice") == []
    assert (await desk.conversation(offered))["assignment"] == "waiting"
    await desk.tick(after_seconds=60)
    assert (await desk.conversation(kept))["assigned_agent_id"] == "alice"
    await desk.tick(after_seconds=121)
    shown = await desk.conversation(kept)
    assert shown["assignment"] == "waiting"
    assert shown["assigned_agent_id"] is None
    outcomes = [h["outcome"] for h in await desk.history(kept)]
    assert outcomes[-1] == "released"


async def test_prefer_last_agent_when_eligible_else_the_pool(desk: Desk) -> None:
    await desk.agent("alice", capacity={"chat": 5})
    await desk.agent("bob", capacity={"chat": 5})
    first = await desk.message("v-1")
    await desk.tick()
    holder = "alice" if await desk.offers("alice") else "bob"
    other = "bob" if holder == "alice" else "alice"
    [offer] = await desk.offers(holder)
    await desk.answer(offer["id"], "accept")
    await desk.client.post(f"/v1/conversations/{first}/close", headers=AUTH)
    await desk.tick()
    second = await desk.message("v-1", "back again")
    assert second != first
    await desk.tick()
    [offer] = await desk.offers(holder)
    assert offer["conversation_id"] == str(second)
    assert (await desk.history(second))[0]["reason"]
    await desk.answer(offer["id"], "accept")
    await desk.client.post(f"/v1/conversations/{second}/close", headers=AUTH)
    await desk.status(holder, "offline")
    await desk.tick()
    third = await desk.message("v-1", "third time")
    await desk.tick()
    [offer] = await desk.offers(other)
    assert offer["conversation_id"] == str(third)


async def test_transfer_to_queue_and_to_agent(desk: Desk) -> None:
    await desk.agent("alice", capacity={"chat": 1})
    await desk.agent("bob", queues=("billing",), skills=("billing",))
    conversation = await desk.message("v-1")
    await desk.tick()
    [offer] = await desk.offers("alice")
    await desk.answer(offer["id"], "accept")

    r = await desk.client.post(
        f"/v1/conversations/{conversation}/transfer",
        json={"queue": "billing"},
        headers=AUTH,
    )
    assert r.status_code == 202, r.text
    shown = await desk.conversation(conversation)
    assert shown["queue"] == "billing"
    assert shown["assignment"] == "waiting"
    assert (await desk.get_agent("alice"))["load"]["chat"] == 0  # type: ignore[index]

    other = await desk.message("v-2")
    await desk.tick()
    [offer] = await desk.offers("alice")
    assert offer["conversation_id"] == str(other)
    await desk.answer(offer["id"], "accept")
    r = await desk.client.post(
        f"/v1/conversations/{conversation}/transfer",
        json={"agent_id": "alice"},
        headers=AUTH,
    )
    assert r.status_code == 409, r.text  # alice is full
    r = await desk.client.post(
        f"/v1/conversations/{conversation}/transfer",
        json={"agent_id": "alice", "force": True},
        headers=AUTH,
    )
    assert r.status_code == 202, r.text
    assert r.json()["offer"]["agent_id"] == "alice"
    outcomes = [h["outcome"] for h in await desk.history(conversation)]
    assert "transferred" in outcomes
    assert outcomes[-1] == "offered"


async def test_escalation_to_another_queue_releases_the_agent(desk: Desk) -> None:
    await desk.agent("alice")
    conversation = await desk.message("v-1")
    await desk.tick()
    [offer] = await desk.offers("alice")
    await desk.answer(offer["id"], "accept")
    await desk.message("v-1", "I will call my lawyer")
    shown = await desk.conversation(conversation)
    assert shown["queue"] == "legal"
    assert shown["assignment"] == "waiting"
    assert (await desk.history(conversation))[-1]["outcome"] == "released"


async def test_delete_agent_returns_its_conversations(desk: Desk) -> None:
    await desk.agent("alice")
    conversation = await desk.message("v-1")
    await desk.tick()
    [offer] = await desk.offers("alice")
    await desk.answer(offer["id"], "accept")
    r = await desk.client.delete("/v1/agents/alice", headers=AUTH)
    assert r.status_code == 204
    assert (await desk.conversation(conversation))["assignment"] == "waiting"
    r = await desk.client.get("/v1/agents/alice", headers=AUTH)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_queues_listing(desk: Desk) -> None:
    await desk.agent("alice", capacity={"chat": 2, "email": 4})
    await desk.message("v-1")
    await desk.message("v-2")
    await desk.message("v-3")
    await desk.tick()
    r = await desk.client.get("/v1/queues", headers=AUTH)
    assert r.status_code == 200
    support = next(q for q in r.json()["items"] if q["name"] == "support")
    assert support["waiting"] == 1
    assert support["available_agents"] == 1
    assert support["free_capacity"]["chat"] == 0
    assert support["free_capacity"]["email"] == 4
    assert support["policy"] == "most_available"
    metrics = (await desk.client.get("/metrics")).text
    assert 'omniroute_queue_waiting{queue="support"} 1.0' in metrics


async def test_agent_validation(desk: Desk) -> None:
    r = await desk.client.put("/v1/agents/bad id", json={"name": "x"}, headers=AUTH)
    assert r.status_code == 422
    r = await desk.client.put(
        "/v1/agents/ok", json={"name": "x", "capacity": {"fax": 1}}, headers=AUTH
    )
    assert r.status_code == 422
    r = await desk.client.put("/v1/agents/ok", json={"name": "Ok"}, headers=AUTH)
    assert r.status_code == 201
    assert r.json()["status"] == "offline"
    assert r.json()["capacity"]["chat"] == 0
    r = await desk.client.put("/v1/agents/ok", json={"name": "Ok 2"}, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["name"] == "Ok 2"
    r = await desk.client.post(f"/v1/offers/{uuid.uuid4()}/accept", headers=AUTH)
    assert r.status_code == 404
