"""Conversations: list, read, close."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app import conversations
from app.api.deps import Engine, require_token
from app.api.problems import NotFound
from app.api.schemas import ConversationList, ConversationOut, DecisionList, DecisionOut

router = APIRouter(
    prefix="/v1/conversations",
    tags=["conversations"],
    dependencies=[Depends(require_token)],
)
_PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"content": {"application/problem+json": {}}} for code in (401, 404, 422)
}


@router.get("", response_model=ConversationList, responses=_PROBLEMS)
async def list_conversations(
    engine: Engine,
    customer_id: uuid.UUID | None = None,
    status: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationList:
    """Most recently active first."""
    found = await conversations.listing(
        engine, customer_id=customer_id, status=status, limit=limit
    )
    return ConversationList(items=[ConversationOut.from_view(c) for c in found])


@router.get("/{conversation_id}", response_model=ConversationOut, responses=_PROBLEMS)
async def get_conversation(
    conversation_id: uuid.UUID, engine: Engine
) -> ConversationOut:
    try:
        return ConversationOut.from_view(
            await conversations.get(engine, conversation_id)
        )
    except conversations.ConversationNotFound as error:
        raise NotFound(str(error)) from None


@router.post(
    "/{conversation_id}/close", response_model=ConversationOut, responses=_PROBLEMS
)
async def close_conversation(
    conversation_id: uuid.UUID, engine: Engine
) -> ConversationOut:
    """Close it; the customer's next message opens a new conversation."""
    try:
        return ConversationOut.from_view(
            await conversations.close(engine, conversation_id)
        )
    except conversations.ConversationNotFound as error:
        raise NotFound(str(error)) from None


@router.get(
    "/{conversation_id}/decisions", response_model=DecisionList, responses=_PROBLEMS
)
async def list_decisions(conversation_id: uuid.UUID, engine: Engine) -> DecisionList:
    """Every routing decision of the conversation, oldest first, with its reasons."""
    try:
        rows = await conversations.decisions(engine, conversation_id)
    except conversations.ConversationNotFound as error:
        raise NotFound(str(error)) from None
    return DecisionList(items=[DecisionOut.from_row(r) for r in rows])
