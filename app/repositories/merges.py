"""What a customer merge writes beyond conversations and messages: identities, the
profile, the merged mark and the merge record."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

_LOCK_PAIR = (
    "SELECT id, merged_into FROM customers WHERE id = ANY($1::uuid[])"
    " ORDER BY id FOR UPDATE"
)
# Claims the survivor already holds (as claim or verified) would violate uniqueness.
_DROP_DUPLICATE_CLAIMS = (
    "DELETE FROM identities m WHERE m.customer_id = $2 AND NOT m.verified AND EXISTS ("
    " SELECT 1 FROM identities s WHERE s.customer_id = $1"
    " AND s.kind = m.kind AND s.value = m.value)"
)
_MOVE_IDENTITIES = "UPDATE identities SET customer_id = $1 WHERE customer_id = $2"
_DROP_SHADOWED_CLAIMS = (
    "DELETE FROM identities c WHERE c.customer_id = $1 AND NOT c.verified AND EXISTS ("
    " SELECT 1 FROM identities v WHERE v.customer_id = $1 AND v.verified"
    " AND v.kind = c.kind AND v.value = c.value)"
)
_ABSORB_PROFILE = (
    "UPDATE customers s SET display_name = coalesce(s.display_name, m.display_name),"
    " tags = ARRAY(SELECT DISTINCT unnest(s.tags || m.tags) ORDER BY 1),"
    " attributes = m.attributes || s.attributes FROM customers m"
    " WHERE s.id = $1 AND m.id = $2"
)
_MARK_MERGED = "UPDATE customers SET merged_into = $1 WHERE id = $2 OR merged_into = $2"
_RECORD = (
    "INSERT INTO customer_merges (survivor_id, merged_id, reason) VALUES ($1, $2, $3)"
)


class Merges:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_pair(
        self, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID | None]:
        """Lock the rows in id order (no deadlock between two merges): id -> merged_into."""
        rows = await self._conn.fetch(_LOCK_PAIR, list(ids))
        return {row["id"]: row["merged_into"] for row in rows}

    async def move_identities(self, survivor: uuid.UUID, merged: uuid.UUID) -> None:
        await self._conn.execute(_DROP_DUPLICATE_CLAIMS, survivor, merged)
        await self._conn.execute(_MOVE_IDENTITIES, survivor, merged)

    async def absorb_profile(self, survivor: uuid.UUID, merged: uuid.UUID) -> None:
        await self._conn.execute(_ABSORB_PROFILE, survivor, merged)

    async def mark_merged(self, survivor: uuid.UUID, merged: uuid.UUID) -> None:
        """`merged` and everything merged into it before now point at `survivor`."""
        await self._conn.execute(_MARK_MERGED, survivor, merged)
        await self._conn.execute(_DROP_SHADOWED_CLAIMS, survivor)

    async def record(self, survivor: uuid.UUID, merged: uuid.UUID, reason: str) -> None:
        await self._conn.execute(_RECORD, survivor, merged, reason)
