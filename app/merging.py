"""Customer merges: the survivor takes the other's identities, conversations and messages."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from app.events import EventConfig, customer_merged

_LOCK_PAIR = "SELECT id, merged_into FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
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
# Both open: the less recently active conversation closes so only one stays open.
_CLOSE_STALER_OPEN = (
    "UPDATE conversations SET status = 'closed', closed_at = $2, close_reason = 'merged'"
    " WHERE id = (SELECT id FROM conversations WHERE customer_id = ANY($1::uuid[])"
    " AND status = 'open' ORDER BY last_message_at ASC, id LIMIT 1)"
    " AND (SELECT count(*) FROM conversations WHERE customer_id = ANY($1::uuid[])"
    " AND status = 'open') > 1"
)
_MOVE_CONVERSATIONS = "UPDATE conversations SET customer_id = $1 WHERE customer_id = $2"
_MOVE_MESSAGES = "UPDATE messages SET customer_id = $1 WHERE customer_id = $2"
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
_PUBLISH = (
    "WITH o AS (INSERT INTO outbox (topic, key, event_id, payload)"
    " VALUES ($1, $2, $3, $4::jsonb)) SELECT pg_notify('omniroute_outbox', '')"
)


_MOVES = (
    _DROP_DUPLICATE_CLAIMS,
    _MOVE_IDENTITIES,
    _MOVE_CONVERSATIONS,
    _MOVE_MESSAGES,
    _ABSORB_PROFILE,
    _MARK_MERGED,
)


class MergeRefused(Exception):
    """The merge cannot happen; `code` is "self", "unknown" or "already_merged"."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.code = code


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
        raise MergeRefused("a customer cannot be merged into itself", "self")
    await _lock_live_pair(conn, survivor, merged)
    # Close first: the partial unique index allows one open conversation per customer.
    await conn.execute(_CLOSE_STALER_OPEN, [survivor, merged], now)
    for statement in _MOVES:
        await conn.execute(statement, survivor, merged)
    await conn.execute(_DROP_SHADOWED_CLAIMS, survivor)
    await conn.execute(_RECORD, survivor, merged, reason)
    event = customer_merged(events, survivor, merged, reason, now)
    await conn.execute(_PUBLISH, event.topic, event.key, event.event_id, event.payload)


async def _lock_live_pair(
    conn: asyncpg.Connection, survivor: uuid.UUID, merged: uuid.UUID
) -> None:
    """Lock both rows in id order (no deadlock between two merges)."""
    rows = await conn.fetch(_LOCK_PAIR, [survivor, merged])
    found = {row["id"]: row["merged_into"] for row in rows}
    for customer_id in (survivor, merged):
        if customer_id not in found:
            raise MergeRefused(f"customer {customer_id} does not exist", "unknown")
        if found[customer_id] is not None:
            raise MergeRefused(
                f"customer {customer_id} was already merged", "already_merged"
            )
