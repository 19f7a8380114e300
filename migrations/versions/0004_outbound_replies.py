"""outbound replies: message status and history, dispatch claims, first response

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:00:00.000000

Outbound messages live in `messages` (direction 'outbound') so the timeline shows them
in place; their provider id is known only once sent. `dispatches` is the send outbox:
written in the message's transaction, claimed by the one active dispatcher, and kept
'claimed' while a request may be in flight, so a restart finds what it cannot know.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("messages", "provider_message_id", nullable=True)
    op.add_column("messages", sa.Column("status", sa.String(length=16), nullable=True))
    op.add_column(
        "messages",
        sa.Column(
            "status_history",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("messages", sa.Column("agent_id", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("error_code", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("error_message", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("idempotency_key", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_index(
        "uq_messages_idempotency_key",
        "messages",
        ["idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.add_column(
        "conversations",
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "conversations",
        sa.Column("first_response_seconds", sa.Float(), nullable=True),
    )
    op.create_table(
        "dispatches",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("delivery", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "state", sa.String(length=16), server_default="pending", nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "not_before",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_dispatches_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatches")),
        sa.UniqueConstraint("message_id", name=op.f("uq_dispatches_message_id")),
    )
    op.create_index(
        "ix_dispatches_pending",
        "dispatches",
        ["provider", "not_before", "id"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_dispatches_claimed",
        "dispatches",
        ["id"],
        unique=False,
        postgresql_where=sa.text("state = 'claimed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_dispatches_claimed", table_name="dispatches")
    op.drop_index("ix_dispatches_pending", table_name="dispatches")
    op.drop_table("dispatches")
    op.drop_column("conversations", "first_response_seconds")
    op.drop_column("conversations", "first_response_at")
    op.drop_index("uq_messages_idempotency_key", table_name="messages")
    for column in (
        "request_hash",
        "idempotency_key",
        "error_message",
        "error_code",
        "agent_id",
        "status_history",
        "status",
    ):
        op.drop_column("messages", column)
    op.alter_column("messages", "provider_message_id", nullable=False)
