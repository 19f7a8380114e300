"""sla: timers per conversation and metric, pending conversations, the SLA policy;
KPI facts (responses, resolution, reopens), follow-up and CSAT

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
    # KPI facts, written as things happen so /v1/stats aggregates without replaying:
    # the oldest customer message no agent reply has answered yet, reopens, and the
    # resolution time once closed (wall and inside opening hours).
    op.add_column("conversations", sa.Column("awaiting_since", _TS))
    op.add_column(
        "conversations",
        sa.Column("reopened_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("conversations", sa.Column("resolution_seconds", sa.Float()))
    op.add_column("conversations", sa.Column("resolution_business_seconds", sa.Float()))
    # Follow-up survey after the close and the customer's rating.
    op.add_column("conversations", sa.Column("follow_up_status", sa.String(16)))
    op.add_column("conversations", sa.Column("follow_up_reason", sa.Text()))
    op.add_column("conversations", sa.Column("follow_up_due_at", _TS))
    op.add_column("conversations", sa.Column("follow_up_sent_at", _TS))
    op.add_column("conversations", sa.Column("csat_score", sa.SmallInteger()))
    op.add_column("conversations", sa.Column("csat_comment", sa.Text()))
    op.add_column("conversations", sa.Column("csat_at", _TS))
    op.add_column("conversations", sa.Column("csat_message_id", sa.Text()))
    op.create_check_constraint(
        "ck_conversations_follow_up_status",
        "conversations",
        "follow_up_status IN ('scheduled', 'sent', 'skipped')",
    )
    op.create_check_constraint(
        "ck_conversations_csat_score", "conversations", "csat_score BETWEEN 1 AND 5"
    )
    op.create_index("ix_conversations_opened_at", "conversations", ["opened_at"])
    # First-contact resolution looks for the customer's next conversation by time.
    op.create_index(
        "ix_conversations_customer_id_opened_at",
        "conversations",
        ["customer_id", "opened_at"],
    )
    op.create_index(
        "ix_conversations_unresolved_closed",
        "conversations",
        ["closed_at"],
        postgresql_where=sa.text("status = 'closed' AND resolution_seconds IS NULL"),
    )
    op.create_index(
        "ix_conversations_follow_up_due_at",
        "conversations",
        ["follow_up_due_at"],
        postgresql_where=sa.text("follow_up_status = 'scheduled'"),
    )
    op.create_index(
        "ix_conversations_survey_customer",
        "conversations",
        ["customer_id", "follow_up_sent_at"],
        postgresql_where=sa.text("follow_up_status = 'sent' AND csat_score IS NULL"),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("awaited_since", _TS, nullable=False),
        sa.Column("answered_at", _TS, nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("business_seconds", sa.Float()),
        sa.Column("agent_id", sa.Text(), nullable=False),
        # The SLA target this response was held to, and whether it made it.
        sa.Column("target_seconds", sa.Integer()),
        sa.Column("within_target", sa.Boolean()),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_responses_conversation"
        ),
        sa.CheckConstraint("kind IN ('first', 'next')", name="ck_responses_kind"),
    )
    op.create_index("ix_responses_conversation_id", "responses", ["conversation_id"])
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
    op.drop_table("responses")
    for index in (
        "ix_conversations_survey_customer",
        "ix_conversations_follow_up_due_at",
        "ix_conversations_unresolved_closed",
        "ix_conversations_opened_at",
        "ix_conversations_customer_id_opened_at",
    ):
        op.drop_index(index, "conversations")
    op.drop_constraint("ck_conversations_csat_score", "conversations")
    op.drop_constraint("ck_conversations_follow_up_status", "conversations")
    for column in (
        "csat_message_id",
        "csat_at",
        "csat_comment",
        "csat_score",
        "follow_up_sent_at",
        "follow_up_due_at",
        "follow_up_reason",
        "follow_up_status",
        "resolution_business_seconds",
        "resolution_seconds",
        "reopened_count",
        "awaiting_since",
    ):
        op.drop_column("conversations", column)
    op.drop_table("sla_timers")
    op.drop_column("conversations", "sla_policy_id")
    op.drop_column("conversations", "pending_since")
