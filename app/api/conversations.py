"""Conversations: list, read, close, and the routing decisions behind them."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.api.assignment_schemas import (
    AssignmentList,
    AssignmentOut,
    OfferOut,
    TransferIn,
    TransferOut,
    TransferToQueue,
)
from app.api.deps import Db, Events, MetricsDep, Rules, require_token
from app.api.openapi import problems
from app.api.schemas import ConversationList, ConversationOut, DecisionList, DecisionOut
from app.assignment import history, transfer
from app.desk import conversations
from app.sla.timers import SlaContext

router = APIRouter(
    prefix="/v1/conversations",
    tags=["conversations"],
    dependencies=[Depends(require_token)],
)
_ONE = problems(401, 404, 422, 503)


@router.get("", response_model=ConversationList, responses=problems(401, 422, 503))
async def list_conversations(
    db: Db,
    rules: Rules,
    customer_id: uuid.UUID | None = None,
    status: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationList:
    """Most recently active first (`open` includes pending conversations)."""
    found = await conversations.listing(
        db, rules.rules, customer_id=customer_id, status=status, limit=limit
    )
    return ConversationList(items=[ConversationOut.from_read(c) for c in found])


@router.get("/{conversation_id}", response_model=ConversationOut, responses=_ONE)
async def get_conversation(
    conversation_id: uuid.UUID, db: Db, rules: Rules
) -> ConversationOut:
    return ConversationOut.from_read(
        await conversations.get(db, conversation_id, rules.rules)
    )


@router.post("/{conversation_id}/close", response_model=ConversationOut, responses=_ONE)
async def close_conversation(
    conversation_id: uuid.UUID,
    db: Db,
    rules: Rules,
    events: Events,
    metrics: MetricsDep,
) -> ConversationOut:
    """Close it (every SLA timer stops); the customer's next message opens a new
    conversation."""
    sla = SlaContext(rules, events, metrics)
    return ConversationOut.from_read(
        await conversations.close(db, conversation_id, sla)
    )


_PENDING = problems(401, 404, 409, 422, 503, notes={409: "the conversation is closed"})


@router.post(
    "/{conversation_id}/pending", response_model=ConversationOut, responses=_PENDING
)
async def set_pending(
    conversation_id: uuid.UUID, db: Db, rules: Rules
) -> ConversationOut:
    """Waiting for the customer: every SLA timer pauses until the customer writes
    (or this is cleared with DELETE)."""
    found = await conversations.set_pending(db, conversation_id, True, rules.rules)
    return ConversationOut.from_read(found)


@router.delete(
    "/{conversation_id}/pending", response_model=ConversationOut, responses=_PENDING
)
async def clear_pending(
    conversation_id: uuid.UUID, db: Db, rules: Rules
) -> ConversationOut:
    """No longer waiting for the customer: the SLA timers run again."""
    found = await conversations.set_pending(db, conversation_id, False, rules.rules)
    return ConversationOut.from_read(found)


@router.get("/{conversation_id}/decisions", response_model=DecisionList, responses=_ONE)
async def list_decisions(conversation_id: uuid.UUID, db: Db) -> DecisionList:
    """Every routing decision of the conversation, oldest first, with its reasons."""
    found = await conversations.decisions(db, conversation_id)
    return DecisionList(items=[DecisionOut.from_view(d) for d in found])


@router.get(
    "/{conversation_id}/assignments", response_model=AssignmentList, responses=_ONE
)
async def list_assignments(conversation_id: uuid.UUID, db: Db) -> AssignmentList:
    """Every offer and assignment, oldest first, with the policy and who was
    considered and excluded, and why."""
    found = await history.history(db, conversation_id)
    return AssignmentList(items=[AssignmentOut.from_record(r) for r in found])


@router.post(
    "/{conversation_id}/transfer",
    status_code=202,
    response_model=TransferOut,
    responses=problems(
        400,
        401,
        404,
        409,
        413,
        422,
        503,
        notes={409: "closed, or the agent is offline or has no free capacity"},
    ),
)
async def transfer_conversation(
    conversation_id: uuid.UUID, body: TransferIn, db: Db, events: Events, rules: Rules
) -> TransferOut:
    """To a queue (it waits there, keeping its place in line) or to an agent (an
    offer, which needs free capacity on the channel unless `force`)."""
    if isinstance(body, TransferToQueue):
        await transfer.to_queue(db, conversation_id, body.queue, rules, events)
        return TransferOut(
            conversation_id=conversation_id, queue=body.queue, offer=None
        )
    offer = await transfer.to_agent(
        db,
        conversation_id,
        body.agent_id,
        force=body.force,
        rules=rules,
        config=events,
    )
    return TransferOut(
        conversation_id=conversation_id,
        queue=offer.queue,
        offer=OfferOut.from_row(offer),
    )
