"""Customer reads and edits for the REST API; merges go through app/merging.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import driver_connection, driver_transaction
from app.events import EventConfig
from app.merging import merge_customers
from connectors.model import IdentityClaim

# One round trip per customer document (identities and merged ids aggregated in SQL).
_DOCUMENT = (
    "SELECT c.id, c.display_name, c.tags, c.attributes::text AS attributes, c.created_at,"
    " c.merged_into, (SELECT coalesce(json_agg(json_build_object('kind', i.kind,"
    " 'value', i.value, 'verified', i.verified) ORDER BY i.verified DESC, i.kind,"
    " i.value), '[]') FROM identities i WHERE i.customer_id = c.id)::text AS identities,"
    " ARRAY(SELECT m.id FROM customers m WHERE m.merged_into = c.id"
    " ORDER BY m.created_at, m.id) AS merged_from FROM customers c"
)
_BY_ID = f"{_DOCUMENT} WHERE c.id = $1"
_BY_IDENTITY = (
    f"{_DOCUMENT} WHERE c.id = (SELECT customer_id FROM identities"
    " WHERE kind = $1 AND value = $2 AND verified)"
)
_MERGED_INTO = "SELECT merged_into FROM customers WHERE id = $1"
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
    async with driver_connection(engine) as conn:
        row = await conn.fetchrow(_MERGED_INTO, customer_id)
    if row is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    if row["merged_into"] is not None:
        raise CustomerMoved(row["merged_into"])
    return customer_id


async def get(engine: AsyncEngine, customer_id: uuid.UUID) -> CustomerView:
    async with driver_connection(engine) as conn:
        row = await conn.fetchrow(_BY_ID, customer_id)
    if row is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    if row["merged_into"] is not None:
        raise CustomerMoved(row["merged_into"])
    return _view(row)


async def find(engine: AsyncEngine, claim: IdentityClaim) -> list[CustomerView]:
    """Customers holding `claim` as a verified identity (at most one)."""
    async with driver_connection(engine) as conn:
        row = await conn.fetchrow(_BY_IDENTITY, claim.kind.value, claim.value)
    return [_view(row)] if row is not None else []


def _view(row: asyncpg.Record) -> CustomerView:
    return CustomerView(
        id=row["id"],
        display_name=row["display_name"],
        identities=tuple(IdentityView(**i) for i in json.loads(row["identities"])),
        tags=tuple(row["tags"]),
        attributes=json.loads(row["attributes"]),
        created_at=row["created_at"],
        merged_from=tuple(row["merged_from"]),
    )


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
