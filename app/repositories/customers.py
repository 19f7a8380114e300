"""Customers and their identities: locking for ingest, documents for the API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from connectors.model import IdentityClaim
from routing.model import ConversationState, Priority

# The customer row is locked: one customer's messages are ingested one at a time.
_LOCKED_COLUMNS = (
    "c.id, c.merged_into, c.tags, v.id AS conversation_id, v.last_message_at, v.queue,"
    " v.priority, v.skills, v.tags AS conversation_tags"
    " FROM customers c LEFT JOIN conversations v"
    " ON v.customer_id = c.id AND v.status = 'open'"
)
_LOCK_BY_IDENTITY = (
    f"SELECT {_LOCKED_COLUMNS} JOIN identities i ON i.customer_id = c.id"
    " AND i.kind = $1 AND i.value = $2 AND i.verified FOR UPDATE OF c"
)
_LOCK_BY_ID = f"SELECT {_LOCKED_COLUMNS} WHERE c.id = $1 FOR UPDATE OF c"
_CREATE_WITH_IDENTITY = (
    "WITH c AS (INSERT INTO customers (id, display_name) VALUES ($1, $2) RETURNING id)"
    " INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " SELECT c.id, $3, $4, true, $2 FROM c"
    " ON CONFLICT (kind, value) WHERE verified DO NOTHING RETURNING customer_id"
)
_DELETE = "DELETE FROM customers WHERE id = $1"
_VERIFIED_OWNER = (
    "SELECT customer_id FROM identities WHERE kind = $1 AND value = $2 AND verified"
)
_ADD_VERIFIED = (
    "WITH gone AS (DELETE FROM identities WHERE customer_id = $1"
    " AND kind = $2 AND value = $3 AND NOT verified)"
    " INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " VALUES ($1, $2, $3, true, $4)"
    " ON CONFLICT (kind, value) WHERE verified DO NOTHING RETURNING customer_id"
)
_ADD_CLAIM = (
    "INSERT INTO identities (customer_id, kind, value, verified, name_hint)"
    " SELECT $1::uuid, $2::varchar, $3::text, false, $4::text WHERE NOT EXISTS ("
    "  SELECT 1 FROM identities WHERE customer_id = $1 AND kind = $2 AND value = $3"
    "  AND verified) ON CONFLICT (customer_id, kind, value) WHERE NOT verified DO NOTHING"
)
# One round trip per customer document (identities and merged ids aggregated in SQL).
_DOCUMENT = (
    "SELECT c.id, c.display_name, c.tags, c.attributes::text AS attributes, c.created_at,"
    " c.merged_into, (SELECT coalesce(json_agg(json_build_object('kind', i.kind,"
    " 'value', i.value, 'verified', i.verified) ORDER BY i.verified DESC, i.kind,"
    " i.value), '[]') FROM identities i WHERE i.customer_id = c.id)::text AS identities,"
    " ARRAY(SELECT m.id FROM customers m WHERE m.merged_into = c.id"
    " ORDER BY m.created_at, m.id) AS merged_from FROM customers c"
)
_DOCUMENT_BY_ID = f"{_DOCUMENT} WHERE c.id = $1"
_DOCUMENT_BY_IDENTITY = (
    f"{_DOCUMENT} WHERE c.id = (SELECT customer_id FROM identities"
    " WHERE kind = $1 AND value = $2 AND verified)"
)
_MERGED_INTO = "SELECT merged_into FROM customers WHERE id = $1"
_MERGED_INTO_LOCKED = "SELECT merged_into FROM customers WHERE id = $1 FOR UPDATE"
_UPDATE_PROFILE = (
    "UPDATE customers SET display_name = CASE WHEN $2 THEN $3 ELSE display_name END,"
    " tags = coalesce($4::text[], tags), attributes = coalesce($5::jsonb, attributes)"
    " WHERE id = $1"
)


@dataclass(frozen=True, slots=True)
class OpenConversation:
    id: uuid.UUID
    last_message_at: datetime
    routing: ConversationState | None  # None until its first decision


@dataclass(frozen=True, slots=True)
class LockedCustomer:
    """A live customer, row-locked, with its open conversation if any."""

    id: uuid.UUID
    tags: tuple[str, ...] = ()
    conversation: OpenConversation | None = None


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


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer document, or where it went: `merged_into` set for a merged-away id."""

    merged_into: uuid.UUID | None
    view: CustomerView


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileChange:
    """What a PATCH sets; None leaves tags/attributes as they are."""

    set_display_name: bool = False
    display_name: str | None = None
    tags: tuple[str, ...] | None = None
    attributes: Mapping[str, object] | None = None


class Customers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_by_identity(self, claim: IdentityClaim) -> LockedCustomer | None:
        """The live customer owning a verified identity, row-locked; None if unknown."""
        row = await self._conn.fetchrow(
            _LOCK_BY_IDENTITY, claim.kind.value, claim.value
        )
        if row is None:
            return None
        return (
            await self.lock(row["merged_into"]) if row["merged_into"] else _locked(row)
        )

    async def lock(self, customer_id: uuid.UUID) -> LockedCustomer:
        """Lock a customer row, following merges to the survivor."""
        while True:
            row = await self._conn.fetchrow(_LOCK_BY_ID, customer_id)
            if row["merged_into"] is None:
                return _locked(row)
            customer_id = row["merged_into"]

    async def create_with_identity(self, claim: IdentityClaim) -> LockedCustomer | None:
        """A new customer owning `claim`; None when a concurrent twin won the identity."""
        new_id = uuid.uuid4()
        args = (new_id, claim.name, claim.kind.value, claim.value)
        if await self._conn.fetchval(_CREATE_WITH_IDENTITY, *args) is not None:
            return LockedCustomer(new_id)
        await self._conn.execute(_DELETE, new_id)
        return None

    async def verified_owner(self, claim: IdentityClaim) -> uuid.UUID | None:
        owner: uuid.UUID | None = await self._conn.fetchval(
            _VERIFIED_OWNER, claim.kind.value, claim.value
        )
        return owner

    async def add_verified(self, customer_id: uuid.UUID, claim: IdentityClaim) -> bool:
        """Attach a verified identity (upgrading a claim); False when another owns it."""
        args = (customer_id, claim.kind.value, claim.value, claim.name)
        return await self._conn.fetchval(_ADD_VERIFIED, *args) is not None

    async def add_claim(self, customer_id: uuid.UUID, claim: IdentityClaim) -> None:
        """Keep an unverified claim; it is shown but never used to stitch."""
        await self._conn.execute(
            _ADD_CLAIM, customer_id, claim.kind.value, claim.value, claim.name
        )

    async def exists(self, customer_id: uuid.UUID) -> tuple[bool, uuid.UUID | None]:
        """(known, merged_into) for an id."""
        row = await self._conn.fetchrow(_MERGED_INTO, customer_id)
        return (False, None) if row is None else (True, row["merged_into"])

    async def lock_for_update(
        self, customer_id: uuid.UUID
    ) -> tuple[bool, uuid.UUID | None]:
        """The same as `exists`, holding the row lock (a merge waits for us)."""
        row = await self._conn.fetchrow(_MERGED_INTO_LOCKED, customer_id)
        return (False, None) if row is None else (True, row["merged_into"])

    async def document(self, customer_id: uuid.UUID) -> CustomerRecord | None:
        row = await self._conn.fetchrow(_DOCUMENT_BY_ID, customer_id)
        return _record(row) if row is not None else None

    async def document_by_identity(self, claim: IdentityClaim) -> CustomerView | None:
        """The customer holding `claim` verified (merged-away ids never hold one)."""
        row = await self._conn.fetchrow(
            _DOCUMENT_BY_IDENTITY, claim.kind.value, claim.value
        )
        return _record(row).view if row is not None else None

    async def update_profile(
        self, customer_id: uuid.UUID, change: ProfileChange
    ) -> None:
        attributes = change.attributes
        await self._conn.execute(
            _UPDATE_PROFILE,
            customer_id,
            change.set_display_name,
            change.display_name,
            list(change.tags) if change.tags is not None else None,
            json.dumps(attributes) if attributes is not None else None,
        )


def _locked(row: asyncpg.Record) -> LockedCustomer:
    conversation = None
    if row["conversation_id"] is not None:
        routing = None
        if row["queue"] is not None:
            routing = ConversationState(
                is_open=True,
                queue=row["queue"],
                priority=Priority(row["priority"]),
                skills=tuple(row["skills"]),
                tags=tuple(row["conversation_tags"]),
            )
        conversation = OpenConversation(
            row["conversation_id"], row["last_message_at"], routing
        )
    return LockedCustomer(row["id"], tuple(row["tags"]), conversation)


def _record(row: asyncpg.Record) -> CustomerRecord:
    view = CustomerView(
        id=row["id"],
        display_name=row["display_name"],
        identities=tuple(IdentityView(**i) for i in json.loads(row["identities"])),
        tags=tuple(row["tags"]),
        attributes=json.loads(row["attributes"]),
        created_at=row["created_at"],
        merged_from=tuple(row["merged_from"]),
    )
    return CustomerRecord(row["merged_into"], view)
