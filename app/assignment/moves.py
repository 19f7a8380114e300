"""Moves shared by several use cases: taking a conversation back from its agent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from app.assignment.effects import Effects, Where, offer_json
from app.repositories.holding import Holding
from app.repositories.offers import Offers


async def requeue(
    conn: asyncpg.Connection,
    fx: Effects,
    conversation_ids: Sequence[uuid.UUID],
    *,
    at: datetime,
    reason: str,
    queue: str | None = None,
) -> None:
    """Withdraw their pending offers and release their agents; they wait again at
    their original place in line (in `queue` when given)."""
    if not conversation_ids:
        return
    withdrawn = await Offers(conn).withdraw_of(conversation_ids, at, reason)
    requeued = await Holding(conn).requeue(conversation_ids, queue)
    by_id = {r.id: r for r in requeued}
    for offer in withdrawn:
        moved = by_id.get(offer.conversation_id)
        if moved is None:
            continue
        where = Where(
            conversation_id=offer.conversation_id,
            customer_id=moved.customer_id,
            queue=offer.queue,
            channel=offer.channel,
            priority=offer.priority,
        )
        fx.step(
            "withdrawn",
            where,
            at=at,
            reason=reason,
            agent_id=offer.agent_id,
            offer_id=offer.id,
            push="offer_withdrawn",
            push_data={"offer": offer_json(offer, "withdrawn")},
        )
    for moved in requeued:
        if moved.previous_assignment != "assigned":
            continue
        where = Where(
            conversation_id=moved.id,
            customer_id=moved.customer_id,
            queue=moved.queue,
            channel=moved.channel,
            priority=moved.priority,
        )
        fx.step(
            "released",
            where,
            at=at,
            reason=reason,
            agent_id=moved.previous_agent_id,
            push="released",
        )
    fx.wake = True
