"""Which conversation a message joins: its email thread, the open one, or a new one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.repositories.conversations import Conversations
from app.repositories.customers import LockedCustomer
from connectors.model import InboundMessage
from routing.model import ConversationState


@dataclass(frozen=True, slots=True)
class Placement:
    conversation_id: uuid.UUID
    routing: ConversationState | None  # None: the message opens (or reopens) it


async def place(
    conversations: Conversations,
    customer: LockedCustomer,
    msg: InboundMessage,
    now: datetime,
    idle: timedelta,
) -> Placement:
    """Email thread first, then the open conversation unless idle, else a new one."""
    current = customer.conversation
    parent = await _thread_parent(conversations, customer.id, msg)
    if parent is not None:
        if current is not None and current.id == parent:
            return Placement(parent, current.routing)
        await conversations.close_others(customer.id, parent, now, "superseded")
        await conversations.reopen(parent)
        return Placement(parent, None)  # reopened: routed like a new conversation
    if current is not None:
        if current.last_message_at + idle >= now:
            return Placement(current.id, current.routing)
        await conversations.close(current.id, current.last_message_at + idle, "idle")
    return Placement(await conversations.open(customer.id, now), None)


async def _thread_parent(
    conversations: Conversations, customer_id: uuid.UUID, msg: InboundMessage
) -> uuid.UUID | None:
    if msg.email is None:
        return None
    ids = (*msg.email.in_reply_to, *msg.email.references)
    return await conversations.thread_parent(customer_id, ids) if ids else None
