"""Customer reads and edits for the REST API; merges go through app/merging.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.events import EventConfig
from app.ingest import driver_transaction
from app.merging import merge_customers
from connectors.model import IdentityClaim

_CUSTOMER = text(
    "SELECT id, display_name, tags, attributes, created_at, merged_into"
    " FROM customers WHERE id = :id"
)
_IDENTITIES = text(
    "SELECT kind, value, verified FROM identities WHERE customer_id = :id"
    " ORDER BY verified DESC, kind, value"
)
_MERGED_FROM = text(
    "SELECT id FROM customers WHERE merged_into = :id ORDER BY created_at, id"
)
_BY_IDENTITY = text(
    "SELECT customer_id FROM identities WHERE kind = :kind AND value = :value AND verified"
)
_UPDATE = text(
    "UPDATE customers SET display_name = CASE WHEN :set_name THEN :name"
    " ELSE display_name END, tags = coalesce(CAST(:tags AS text[]), tags),"
    " attributes = coalesce(CAST(:attributes AS jsonb), attributes)"
    " WHERE id = :id AND merged_into IS NULL"
)


@dataclass(frozen=True, slots=True)
class IdentityView:
    kind: str
    value: str
    verified: bool


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: uuid.UUID
    display_name: str | None
    identities: tuple[IdentityView, ...]
    tags: tuple[str, ...]
    attributes: Mapping[str, object]
    created_at: datetime
    merged_from: tuple[uuid.UUID, ...]


class CustomerNotFound(Exception):
    pass


class CustomerMoved(Exception):
    """The customer was merged; its URLs now belong to `survivor_id`."""

    def __init__(self, survivor_id: uuid.UUID) -> None:
        super().__init__(f"merged into {survivor_id}")
        self.survivor_id = survivor_id


async def live_customer_id(engine: AsyncEngine, customer_id: uuid.UUID) -> uuid.UUID:
    """The id itself when live; CustomerMoved when merged; CustomerNotFound when unknown."""
    async with engine.connect() as conn:
        row = (await conn.execute(_CUSTOMER, {"id": customer_id})).first()
    if row is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    if row.merged_into is not None:
        raise CustomerMoved(row.merged_into)
    return customer_id


async def get(engine: AsyncEngine, customer_id: uuid.UUID) -> CustomerView:
    async with engine.connect() as conn:
        row = (await conn.execute(_CUSTOMER, {"id": customer_id})).first()
        if row is None:
            raise CustomerNotFound(f"customer {customer_id} does not exist")
        if row.merged_into is not None:
            raise CustomerMoved(row.merged_into)
        identities = (await conn.execute(_IDENTITIES, {"id": customer_id})).all()
        merged = (await conn.execute(_MERGED_FROM, {"id": customer_id})).scalars().all()
    return CustomerView(
        id=row.id,
        display_name=row.display_name,
        identities=tuple(IdentityView(i.kind, i.value, i.verified) for i in identities),
        tags=tuple(row.tags),
        attributes=row.attributes,
        created_at=row.created_at,
        merged_from=tuple(merged),
    )


async def find(engine: AsyncEngine, claim: IdentityClaim) -> list[CustomerView]:
    """Customers holding `claim` as a verified identity (at most one)."""
    params = {"kind": claim.kind.value, "value": claim.value}
    async with engine.connect() as conn:
        ids = (await conn.execute(_BY_IDENTITY, params)).scalars().all()
    return [await get(engine, customer_id) for customer_id in ids]


async def update(
    engine: AsyncEngine,
    customer_id: uuid.UUID,
    changes: Mapping[str, object],
) -> CustomerView:
    """Set any of display_name, tags, attributes; other fields stay."""
    await live_customer_id(engine, customer_id)
    tags = changes.get("tags")
    attributes = changes.get("attributes")
    params = {
        "id": customer_id,
        "set_name": "display_name" in changes,
        "name": changes.get("display_name"),
        "tags": list(tags) if isinstance(tags, Sequence) else None,
        "attributes": json.dumps(attributes) if attributes is not None else None,
    }
    async with engine.begin() as conn:
        await conn.execute(_UPDATE, params)
    return await get(engine, customer_id)


async def merge(
    engine: AsyncEngine,
    survivor: uuid.UUID,
    merged: uuid.UUID,
    reason: str,
    events: EventConfig,
) -> CustomerView:
    async with driver_transaction(engine) as conn:
        await merge_customers(conn, survivor, merged, reason, datetime.now(UTC), events)
    return await get(engine, survivor)
