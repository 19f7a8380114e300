"""Customer merges: the survivor takes the other's identities, conversations and messages.

Runs inside the caller's transaction (ingest's auto-merge, or the API's manual merge)
and announces the merge through the outbox in that same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from app.errors import Conflict, NotFound, PayloadRejected
from app.events import EventConfig, customer_merged
from app.repositories.conversations import Conversations
from app.repositories.merges import Merges
from app.repositories.messages import Messages
from app.repositories.outbox import Outbox


class MergeIntoItself(PayloadRejected):
    slug = "merge-into-itself"


class MergeUnknownCustomer(NotFound):
    pass


class AlreadyMerged(Conflict):
    slug = "already-merged"


async def merge_customers(
    conn: asyncpg.Connection,
    survivor: uuid.UUID,
    merged: uuid.UUID,
    reason: str,
    now: datetime,
    events: EventConfig,
) -> None:
    """Fold `merged` into `survivor` inside the caller's transaction; announce it."""
    if survivor == merged:
        raise MergeIntoItself("a customer cannot be merged into itself")
    merges, conversations = Merges(conn), Conversations(conn)
    _check_live(await merges.lock_pair([survivor, merged]), survivor, merged)
    # Close first: the partial unique index allows one open conversation per customer.
    await conversations.close_staler_open([survivor, merged], now, "merged")
    await merges.move_identities(survivor, merged)
    await conversations.move_to(survivor, merged)
    await Messages(conn).move_to(survivor, merged)
    await merges.absorb_profile(survivor, merged)
    await merges.mark_merged(survivor, merged)
    await merges.record(survivor, merged, reason)
    await Outbox(conn).add(customer_merged(events, survivor, merged, reason, now))


def _check_live(found: dict[uuid.UUID, uuid.UUID | None], *ids: uuid.UUID) -> None:
    for customer_id in ids:
        if customer_id not in found:
            raise MergeUnknownCustomer(f"customer {customer_id} does not exist")
        if found[customer_id] is not None:
            raise AlreadyMerged(f"customer {customer_id} was already merged")
