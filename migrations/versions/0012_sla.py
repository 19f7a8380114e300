"""sla: timers per conversation and metric, pending conversations, the SLA policy

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Waiting for the customer: every timer is paused until they write (or an agent
    # clears it). The stored status stays 'open'.
    op.add_column("conversations", sa.Column("pending_since", _TS))
    op.add_column("conversations", sa.Column("sla_policy_id", sa.Text()))
    op.create_table(
        "sla_timers",
        sa.Column("conversation_id", sa.Uuid(), primary_key=True),
        sa.Column("metric", sa.String(16), primary_key=True),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Text(), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=False),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column("warn_at", sa.Float(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        # Counted time before running_since; running_since NULL and stopped_at NULL
        # is paused.
        sa.Column("counted_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("running_since", _TS),
        sa.Column("stopped_at", _TS),
        sa.Column("breached_at", _TS),
        # Computed from the above (and the opening hours) whenever they change, so
        # the scheduler finds what is due with an index range.
        sa.Column("due_at", _TS),
        sa.Column("warn_due_at", _TS),
        sa.Column("warned_at", _TS),
        sa.Column("breach_published_at", _TS),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_sla_timers_conversation"
        ),
        sa.CheckConstraint(
            "metric IN ('first_response', 'next_response', 'resolution')",
            name="ck_sla_timers_metric",
        ),
    )
    op.create_index(
        "ix_sla_timers_warn_due_at",
        "sla_timers",
        ["warn_due_at"],
        postgresql_where=sa.text("warned_at IS NULL AND stopped_at IS NULL"),
    )
    op.create_index(
        "ix_sla_timers_due_at",
        "sla_timers",
        ["due_at"],
        postgresql_where=sa.text("breach_published_at IS NULL AND stopped_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("sla_timers")
    op.drop_column("conversations", "sla_policy_id")
    op.drop_column("conversations", "pending_since")
