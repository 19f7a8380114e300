"""canonical phone_raw identity values

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:30:00.000000

`phone_raw` values used to be stored as received, only trimmed; they are now
canonical (connectors.identity.canonical_raw_phone: a number's separators and
leading "+" dropped, white space of anything else collapsed), which is what
lookups compute. This rewrites the stored values.

Two rows can become equal. A verified (kind, value) belongs to one customer
(uq_identities_verified_kind_value), so in each group of equal values:
- the oldest verified row stays verified;
- another verified row becomes an unverified claim of its own customer (kept,
  never used to stitch, like any claim), or is deleted when that customer
  already holds the value;
- of the unverified rows, one per customer is kept
  (uq_identities_claim_customer_kind_value).
No customers are merged here: a merge moves conversations and publishes an
event, so it is left to `POST /v1/customers/{id}/merge` for whoever knows the
two are one person.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

# The current rule, imported rather than copied: the target of this rewrite is
# whatever ingest and lookups compute.
from connectors.identity import canonical_raw_phone

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    customer_id: object
    value: str
    verified: bool


@dataclass(slots=True)
class _Plan:
    deletes: list[int]
    demotions: list[tuple[int, str]]  # (id, new value), verified -> claim
    rewrites: list[tuple[int, str]]  # (id, new value), verified flag kept


def _plan(rows: Sequence[_Row]) -> _Plan:
    """Rows in (verified first, oldest first) order, to what each one becomes."""
    plan = _Plan(deletes=[], demotions=[], rewrites=[])
    holder: dict[str, object] = {}  # value -> the customer holding it verified
    claims: set[tuple[object, str]] = set()
    for row in rows:
        value = canonical_raw_phone(row.value)
        if row.verified and value not in holder:
            holder[value] = row.customer_id
            if value != row.value:
                plan.rewrites.append((row.id, value))
        elif (row.customer_id, value) in claims or (
            row.verified and holder[value] == row.customer_id
        ):
            plan.deletes.append(row.id)
        else:
            claims.add((row.customer_id, value))
            if row.verified:
                plan.demotions.append((row.id, value))
            elif value != row.value:
                plan.rewrites.append((row.id, value))
    return plan


def upgrade() -> None:
    bind = op.get_bind()
    rows = [
        _Row(*row)
        for row in bind.execute(
            sa.text(
                "SELECT id, customer_id, value, verified FROM identities"
                " WHERE kind = 'phone_raw' ORDER BY verified DESC, created_at, id"
            )
        )
    ]
    plan = _plan(rows)
    # Deletions and demotions first: each frees a value that a rewrite may take,
    # and PostgreSQL checks the unique indexes row by row.
    if plan.deletes:
        bind.execute(
            sa.text("DELETE FROM identities WHERE id = ANY(:ids)"),
            {"ids": plan.deletes},
        )
    update = "UPDATE identities SET value = :value{} WHERE id = :id"
    for statement, changes in (
        (update.format(", verified = false"), plan.demotions),
        (update.format(""), plan.rewrites),
    ):
        if changes:
            bind.execute(
                sa.text(statement), [{"id": i, "value": v} for i, v in changes]
            )


def downgrade() -> None:
    # The values as received are gone; the canonical ones are still valid
    # phone_raw identities for the previous code (it matched them verbatim).
    pass
