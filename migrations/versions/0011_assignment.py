"""assignment: agents, offers, the assignment log, agent events; conversation holder

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("now()")
_TEXTS = sa.text("'{}'::text[]")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="offline"),
        sa.Column("queues", postgresql.ARRAY(sa.Text()), server_default=_TEXTS),
        sa.Column("skills", postgresql.ARRAY(sa.Text()), server_default=_TEXTS),
        sa.Column("languages", postgresql.ARRAY(sa.Text()), server_default=_TEXTS),
        sa.Column("capacity", postgresql.JSONB(), nullable=False),
        sa.Column("status_changed_at", _TS, nullable=False, server_default=_NOW),
        # Set while offline: its conversations return to their queues after the grace.
        sa.Column("offline_since", _TS, nullable=True),
        sa.Column("last_assigned_at", _TS, nullable=True),
        # The last `agent_events.seq` given out; bumped under the agent's row lock, so
        # an agent's events commit in sequence order and a reader never skips one.
        sa.Column("event_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
        sa.CheckConstraint(
            "status IN ('available', 'away', 'offline')", name="ck_agents_status"
        ),
    )
    # assignment: none (closed or never routed), waiting (in its queue's line),
    # offered (a pending offer to holder_agent_id), assigned (held by holder_agent_id).
    op.add_column(
        "conversations",
        sa.Column("assignment", sa.String(16), nullable=False, server_default="none"),
    )
    op.add_column("conversations", sa.Column("holder_agent_id", sa.Text()))
    op.add_column("conversations", sa.Column("waiting_since", _TS))
    op.add_column("conversations", sa.Column("assigned_at", _TS))
    # The channel its capacity counts on: the opening message's, fixed while held.
    op.add_column("conversations", sa.Column("channel", sa.String(16)))
    op.create_check_constraint(
        "ck_conversations_assignment",
        "conversations",
        "assignment IN ('none', 'waiting', 'offered', 'assigned')",
    )
    op.create_index(
        "ix_conversations_waiting",
        "conversations",
        ["waiting_since", "id"],
        postgresql_where=sa.text("assignment = 'waiting' AND status = 'open'"),
    )
    op.create_index(
        "ix_conversations_holder_agent_id",
        "conversations",
        ["holder_agent_id"],
        postgresql_where=sa.text("holder_agent_id IS NOT NULL"),
    )
    op.add_column("customers", sa.Column("last_agent_id", sa.Text()))
    # Open conversations routed before this release wait in their queues.
    op.execute(
        "UPDATE conversations SET assignment = 'waiting', waiting_since = opened_at,"
        " channel = channels[1] WHERE status = 'open' AND queue IS NOT NULL"
    )

    op.create_table(
        "offers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Uuid(),
            sa.ForeignKey("conversations.id"),
            nullable=False,
        ),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("offered_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("answered_at", _TS),
        sa.Column("reason", sa.Text()),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'timed_out', 'withdrawn')",
            name="ck_offers_status",
        ),
    )
    # Never two pending offers for one conversation, whatever replica made them.
    op.create_index(
        "uq_offers_pending_conversation_id",
        "offers",
        ["conversation_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_offers_pending_expires_at",
        "offers",
        ["expires_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_offers_agent_id", "offers", ["agent_id", "offered_at"])
    op.create_index("ix_offers_conversation_id", "offers", ["conversation_id"])

    op.create_table(
        "assignment_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.Text()),
        sa.Column("offer_id", sa.Uuid()),
        sa.Column("policy", sa.String(16)),
        sa.Column("considered", sa.Integer()),
        sa.Column("eligible", sa.Integer()),
        sa.Column(
            "excluded",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
        sa.Column("agent_load", sa.Integer()),
        sa.Column("agent_capacity", sa.Integer()),
        sa.Column("agent_idle_seconds", sa.Float()),
        sa.Column("expansion_step", sa.Integer()),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_assignment_log_conversation_id", "assignment_log", ["conversation_id", "id"]
    )

    op.create_table(
        "agent_events",
        sa.Column("agent_id", sa.Text(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", _TS, nullable=False, server_default=_NOW),
    )
    op.create_index("ix_agent_events_created_at", "agent_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("agent_events")
    op.drop_table("assignment_log")
    op.drop_table("offers")
    op.drop_column("customers", "last_agent_id")
    op.drop_index("ix_conversations_holder_agent_id", "conversations")
    op.drop_index("ix_conversations_waiting", "conversations")
    op.drop_constraint("ck_conversations_assignment", "conversations")
    for column in ("channel", "assigned_at", "waiting_since", "holder_agent_id"):
        op.drop_column("conversations", column)
    op.drop_column("conversations", "assignment")
    op.drop_table("agents")
