"""Messages with their routing decision, attachments and the decision's outbox row.

The ingest hot path writes message, conversation bookkeeping, decision, outbox row and
the relay's wake-up in one round trip (shared/perf-notes.md: each round trip costs CPU).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from app.repositories import agent_events, holding, outbox
from app.repositories.outbox import OutboxRow
from connectors.model import Attachment, InboundMessage
from routing.model import Decision

_OUTBOX_CTE, _NOTIFY = outbox.insert_from("m", first_param=36)
# No row back = duplicate (and nothing else was written).
_INSERT = (
    "WITH m AS (INSERT INTO messages (id, customer_id, conversation_id, channel, direction,"
    " provider, provider_message_id, content_type, sender_kind, sender_value, sender_name,"
    " recipient, subject, text, full_text, locale, email_message_id, in_reply_to,"
    " reference_ids, sent_at, received_at) VALUES ($1, $2, $3, $4, 'inbound', $5, $6, $7,"
    " $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    " ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id),"
    " c AS (UPDATE conversations SET last_message_at = greatest(last_message_at, $20),"
    " message_count = message_count + 1, channels = CASE WHEN $4 = ANY(channels)"
    " THEN channels ELSE array_append(channels, $4::text) END, queue = $22,"
    " priority = $23, skills = $24, tags = $25,"
    # Opening (or reopening) puts it in line; the channel its capacity counts on.
    " assignment = CASE WHEN $41 THEN 'waiting' ELSE assignment END,"
    " waiting_since = CASE WHEN $41 THEN $20 ELSE waiting_since END,"
    " channel = CASE WHEN $41 THEN $4 ELSE channel END,"
    " holder_agent_id = CASE WHEN $41 THEN NULL ELSE holder_agent_id END,"
    " assigned_at = CASE WHEN $41 THEN NULL ELSE assigned_at END"
    " FROM m WHERE conversations.id = $3"
    " RETURNING conversations.holder_agent_id AS holder, conversations.assignment),"
    # A follow-up in an assigned conversation is pushed to its agent's desktop.
    " s AS (UPDATE agents SET event_seq = event_seq + 1 FROM c"
    " WHERE agents.id = c.holder AND c.assignment = 'assigned'"
    " RETURNING agents.id, agents.event_seq),"
    " e AS (INSERT INTO agent_events (agent_id, seq, kind, conversation_id, data)"
    " SELECT s.id, s.event_seq, 'message', $3, jsonb_build_object('conversation_id',"
    " $3::text, 'message_id', m.id::text, 'channel', $4::text) FROM s, m"
    " RETURNING agent_id),"
    " d AS (INSERT INTO decisions (id, message_id, conversation_id, customer_id, queue,"
    " priority, skills, tags, language, rule_id, matched_conditions, reason, rules_version,"
    " new_conversation, changed, escalated, previous_queue, previous_priority, decided_at)"
    " SELECT $21, m.id, $3, $2, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32,"
    f" $33, $34, $35, $20 FROM m), {_OUTBOX_CTE}"
    f" SELECT m.id, {_NOTIFY},"
    f" (SELECT pg_notify('{agent_events.CHANNEL}', agent_id) FROM e),"
    f" CASE WHEN $41 THEN pg_notify('{holding.CHANNEL}', '') END FROM m"
)
_INSERT_ATTACHMENT = (
    "INSERT INTO attachments (id, message_id, position, filename, content_type, size,"
    " sha256, url, provider_media_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_EXISTS = "SELECT 1 FROM messages WHERE provider = $1 AND provider_message_id = $2"
_MOVE = "UPDATE messages SET customer_id = $1 WHERE customer_id = $2"
_LOCK_FOR_EDIT = (
    "SELECT id, customer_id, conversation_id, text, edited_at FROM messages"
    " WHERE provider = $1 AND provider_message_id = $2 FOR UPDATE"
)
# $5: the entry for the replaced text, or an empty array when the text is unchanged.
_REVISE = (
    "UPDATE messages SET text = $2, full_text = $3, edited_at = $4,"
    " edit_history = edit_history || $5::jsonb WHERE id = $1"
)
_MARK_EDITED = "UPDATE messages SET edited_at = $2 WHERE id = $1"


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment ready for its row: bytes already written under their sha256."""

    source: Attachment
    sha256: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """An inbound message placed in its conversation, with its decision and event."""

    message: InboundMessage
    id: uuid.UUID
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    sent_at: datetime
    received_at: datetime
    decision: Decision
    decision_id: uuid.UUID
    event: OutboxRow
    opens: bool  # a new or reopened conversation: it starts waiting in its queue


@dataclass(frozen=True, slots=True, kw_only=True)
class EditTarget:
    """A stored message about to be edited, row-locked until the transaction ends."""

    id: uuid.UUID
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    text: str
    edited_at: datetime | None  # the edit that wrote `text`; None: as first sent


@dataclass(frozen=True, slots=True, kw_only=True)
class Revision:
    """A newer text for a message; the replaced one goes to its edit history."""

    text: str
    full_text: str
    edited_at: datetime


class Messages:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def exists(self, provider: str, provider_message_id: str) -> bool:
        found = await self._conn.fetchval(_EXISTS, provider, provider_message_id)
        return found is not None

    async def insert(self, new: NewMessage) -> bool:
        """Insert the message with its decision and event; False on a duplicate."""
        stored = await self._conn.fetchval(
            _INSERT,
            *_message_args(new),
            new.sent_at,
            new.received_at,
            *_decision_args(new.decision, new.decision_id),
            *outbox.row_args(new.event),
            new.opens,
        )
        return stored is not None

    async def add_attachments(
        self, message_id: uuid.UUID, attachments: Sequence[StoredAttachment]
    ) -> None:
        rows = [_attachment_args(message_id, i, a) for i, a in enumerate(attachments)]
        if rows:
            await self._conn.executemany(_INSERT_ATTACHMENT, rows)

    async def move_to(self, survivor: uuid.UUID, merged: uuid.UUID) -> None:
        await self._conn.execute(_MOVE, survivor, merged)

    async def lock_for_edit(
        self, provider: str, provider_message_id: str
    ) -> EditTarget | None:
        """The stored message, locked against concurrent edits; None if never stored."""
        row = await self._conn.fetchrow(_LOCK_FOR_EDIT, provider, provider_message_id)
        return EditTarget(**dict(row)) if row is not None else None

    async def revise(self, target: EditTarget, revision: Revision) -> None:
        """Replace the text; the old one joins the history unless it is unchanged."""
        replaced = (
            [{"text": target.text, "edited_at": _iso_utc(revision.edited_at)}]
            if revision.text != target.text
            else []
        )
        await self._conn.execute(
            _REVISE,
            target.id,
            revision.text,
            revision.full_text,
            revision.edited_at,
            json.dumps(replaced),
        )

    async def mark_edited(self, message_id: uuid.UUID, edited_at: datetime) -> None:
        """Record that a message stored from an edit holds that edit's text."""
        await self._conn.execute(_MARK_EDITED, message_id, edited_at)


def _message_args(new: NewMessage) -> tuple[object, ...]:
    msg = new.message
    email = msg.email
    return (
        new.id,
        new.customer_id,
        new.conversation_id,
        msg.channel.value,
        msg.provider,
        msg.provider_message_id,
        msg.content_type,
        msg.sender.kind.value,
        msg.sender.value,
        msg.sender.name,
        msg.recipient,
        msg.subject,
        msg.text,
        msg.full_text if msg.full_text is not None else msg.text,
        msg.locale,
        email.message_id if email else None,
        email.in_reply_to[0] if email and email.in_reply_to else None,
        list(email.references) if email else [],
    )


def _decision_args(decision: Decision, decision_id: uuid.UUID) -> tuple[object, ...]:
    previous = decision.previous_priority
    return (
        decision_id,
        decision.queue,
        decision.priority.value,
        list(decision.skills),
        list(decision.tags),
        decision.language,
        decision.rule_id,
        list(decision.matched_conditions),
        decision.reason,
        decision.rules_version,
        decision.new_conversation,
        decision.changed,
        decision.escalated,
        decision.previous_queue,
        previous.value if previous is not None else None,
    )


def _attachment_args(
    message_id: uuid.UUID, position: int, stored: StoredAttachment
) -> tuple[object, ...]:
    a = stored.source
    size = a.size if a.size is not None else (len(a.content) if a.content else None)
    return (
        uuid.uuid4(),
        message_id,
        position,
        a.filename,
        a.content_type,
        size,
        stored.sha256,
        a.url,
        a.provider_media_id,
    )


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
