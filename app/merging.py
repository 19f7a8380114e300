"""Customer merges: the survivor takes the other's identities, conversations and messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_LOCK_PAIR = text(
    "SELECT id, merged_into FROM customers WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
)
# Claims the survivor already holds (as claim or verified) would violate uniqueness.
_DROP_DUPLICATE_CLAIMS = text(
    "DELETE FROM identities m WHERE m.customer_id = :merged AND NOT m.verified AND EXISTS ("
    " SELECT 1 FROM identities s WHERE s.customer_id = :survivor"
    " AND s.kind = m.kind AND s.value = m.value)"
)
_MOVE_IDENTITIES = text(
    "UPDATE identities SET customer_id = :survivor WHERE customer_id = :merged"
)
_DROP_SHADOWED_CLAIMS = text(
    "DELETE FROM identities c WHERE c.customer_id = :survivor AND NOT c.verified AND EXISTS ("
    " SELECT 1 FROM identities v WHERE v.customer_id = :survivor AND v.verified"
    " AND v.kind = c.kind AND v.value = c.value)"
)
# Both open: the less recently active conversation closes so only one stays open.
_CLOSE_STALER_OPEN = text(
    "UPDATE conversations SET status = 'closed', closed_at = :now, close_reason = 'merged'"
    " WHERE id = (SELECT id FROM conversations WHERE customer_id = ANY(:ids)"
    " AND status = 'open' ORDER BY last_message_at ASC, id LIMIT 1)"
    " AND (SELECT count(*) FROM conversations WHERE customer_id = ANY(:ids)"
    " AND status = 'open') > 1"
)
_MOVE_CONVERSATIONS = text(
    "UPDATE conversations SET customer_id = :survivor WHERE customer_id = :merged"
)
_MOVE_MESSAGES = text(
    "UPDATE messages SET customer_id = :survivor WHERE customer_id = :merged"
)
_ABSORB_PROFILE = text(
    "UPDATE customers s SET display_name = coalesce(s.display_name, m.display_name),"
    " tags = ARRAY(SELECT DISTINCT unnest(s.tags || m.tags) ORDER BY 1),"
    " attributes = m.attributes || s.attributes FROM customers m"
    " WHERE s.id = :survivor AND m.id = :merged"
)
_MARK_MERGED = text(
    "UPDATE customers SET merged_into = :survivor"
    " WHERE id = :merged OR merged_into = :merged"
)
_RECORD = text(
    "INSERT INTO customer_merges (survivor_id, merged_id, reason)"
    " VALUES (:survivor, :merged, :reason)"
)


class MergeRefused(Exception):
    """The merge cannot happen; `code` is "self", "unknown" or "already_merged"."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.code = code


async def merge_customers(
    conn: AsyncConnection,
    survivor: uuid.UUID,
    merged: uuid.UUID,
    reason: str,
    now: datetime,
) -> None:
    """Fold `merged` into `survivor` inside the caller's transaction."""
    if survivor == merged:
        raise MergeRefused("a customer cannot be merged into itself", "self")
    await _lock_live_pair(conn, survivor, merged)
    ids = {"survivor": survivor, "merged": merged}
    await conn.execute(_DROP_DUPLICATE_CLAIMS, ids)
    await conn.execute(_MOVE_IDENTITIES, ids)
    await conn.execute(_DROP_SHADOWED_CLAIMS, ids)
    await conn.execute(_CLOSE_STALER_OPEN, {"ids": [survivor, merged], "now": now})
    await conn.execute(_MOVE_CONVERSATIONS, ids)
    await conn.execute(_MOVE_MESSAGES, ids)
    await conn.execute(_ABSORB_PROFILE, ids)
    await conn.execute(_MARK_MERGED, ids)
    await conn.execute(_RECORD, ids | {"reason": reason})


async def _lock_live_pair(
    conn: AsyncConnection, survivor: uuid.UUID, merged: uuid.UUID
) -> None:
    """Lock both rows in id order (no deadlock between two merges)."""
    rows = (await conn.execute(_LOCK_PAIR, {"ids": [survivor, merged]})).all()
    found = {row.id: row.merged_into for row in rows}
    for customer_id in (survivor, merged):
        if customer_id not in found:
            raise MergeRefused(f"customer {customer_id} does not exist", "unknown")
        if found[customer_id] is not None:
            raise MergeRefused(
                f"customer {customer_id} was already merged", "already_merged"
            )
