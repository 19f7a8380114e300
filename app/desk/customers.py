"""Customer reads and edits for the agent API; merges go through app/merging.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.db import Database
from app.errors import NotFound, Problem
from app.events import EventConfig
from app.merging import merge_customers
from app.repositories.customers import Customers, CustomerView, ProfileChange
from connectors.model import IdentityClaim

__all__ = [
    "CustomerMoved",
    "CustomerNotFound",
    "CustomerView",
    "ProfileChange",
    "check_live",
    "find",
    "get",
    "merge",
    "require_live",
    "update",
]


class CustomerNotFound(NotFound):
    pass


class CustomerMoved(Problem):
    """The customer was merged; its URLs now belong to `survivor_id` (308 there)."""

    status, title, slug = 308, "Customer merged", "customer-merged"

    def __init__(self, customer_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
        super().__init__(
            f"customer {customer_id} was merged into {survivor_id}",
            survivor_id=str(survivor_id),
        )
        self.customer_id = customer_id
        self.survivor_id = survivor_id

    def headers_for(self, path: str, query: str) -> dict[str, str]:
        location = path.replace(str(self.customer_id), str(self.survivor_id), 1)
        return {"Location": location + (f"?{query}" if query else "")}


def check_live(
    customer_id: uuid.UUID, known: bool, merged_into: uuid.UUID | None
) -> None:
    """Raise CustomerNotFound for an unknown id, CustomerMoved for a merged one."""
    if not known:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    if merged_into is not None:
        raise CustomerMoved(customer_id, merged_into)


async def require_live(db: Database, customer_id: uuid.UUID) -> uuid.UUID:
    """The id itself when live; CustomerMoved when merged; CustomerNotFound when unknown."""
    async with db.connection() as conn:
        check_live(customer_id, *await Customers(conn).exists(customer_id))
    return customer_id


async def get(db: Database, customer_id: uuid.UUID) -> CustomerView:
    async with db.connection() as conn:
        record = await Customers(conn).document(customer_id)
    if record is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    check_live(customer_id, True, record.merged_into)
    return record.view


async def find(db: Database, claim: IdentityClaim) -> list[CustomerView]:
    """Customers holding `claim` as a verified identity (at most one)."""
    async with db.connection() as conn:
        found = await Customers(conn).document_by_identity(claim)
    return [found] if found is not None else []


async def update(
    db: Database, customer_id: uuid.UUID, change: ProfileChange
) -> CustomerView:
    """Set any of display_name, tags, attributes in one transaction; the row lock
    orders it against a merge, which then answers 308 instead of a lost write."""
    async with db.transaction() as conn:
        customers = Customers(conn)
        check_live(customer_id, *await customers.lock_for_update(customer_id))
        await customers.update_profile(customer_id, change)
        record = await customers.document(customer_id)
    assert record is not None  # locked and live above
    return record.view


async def merge(
    db: Database,
    survivor: uuid.UUID,
    merged: uuid.UUID,
    reason: str,
    events: EventConfig,
) -> CustomerView:
    async with db.transaction() as conn:
        await merge_customers(conn, survivor, merged, reason, datetime.now(UTC), events)
        record = await Customers(conn).document(survivor)
    assert record is not None  # merge_customers checked it exists
    return record.view
