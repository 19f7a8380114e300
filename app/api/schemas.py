"""HTTP response and request shapes for the agent-desktop API."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from app.api.openapi import STORABLE_OBJECT
from app.api.storable import check_storable
from app.desk.conversations import ConversationRead, ConversationView, DecisionView
from app.desk.customers import CustomerView, ProfileChange
from app.desk.timeline import AttachmentView, MessageView, Page
from app.replies.accept import ReplyRequest
from app.sla.views import SlaView, TimerView
from outbound.model import MediaLink, Template


class IdentityOut(BaseModel):
    kind: str
    value: str
    verified: bool


class CustomerOut(BaseModel):
    id: uuid.UUID
    display_name: str | None
    identities: list[IdentityOut]
    tags: list[str]
    attributes: dict[str, object]
    created_at: datetime
    merged_from: list[uuid.UUID]

    @classmethod
    def from_view(cls, view: CustomerView) -> CustomerOut:
        return cls(
            id=view.id,
            display_name=view.display_name,
            identities=[
                IdentityOut(kind=i.kind, value=i.value, verified=i.verified)
                for i in view.identities
            ],
            tags=list(view.tags),
            attributes=dict(view.attributes),
            created_at=view.created_at,
            merged_from=list(view.merged_from),
        )


class CustomerList(BaseModel):
    items: list[CustomerOut]


NO_NUL = r"^[^\x00]*$"  # jsonb and text columns cannot store U+0000


class CustomerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=500, pattern=NO_NUL)
    tags: (
        list[Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]] | None
    ) = Field(default=None, max_length=100)
    attributes: Annotated[dict[str, object], WithJsonSchema(STORABLE_OBJECT)] | None = (
        None
    )

    @field_validator("display_name", "tags", "attributes")
    @classmethod
    def _storable(cls, value: object) -> object:
        # Checked before anything is written: what is stored can always be read back.
        check_storable(value)
        return value

    def change(self) -> ProfileChange:
        """Only the fields the request named; others stay as stored."""
        given = self.model_fields_set
        return ProfileChange(
            set_display_name="display_name" in given,
            display_name=self.display_name,
            tags=tuple(self.tags)
            if "tags" in given and self.tags is not None
            else None,
            attributes=self.attributes if "attributes" in given else None,
        )


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merge_customer_id: uuid.UUID


class SenderOut(BaseModel):
    kind: str
    value: str
    name: str | None


class AttachmentOut(BaseModel):
    id: uuid.UUID
    filename: str | None
    content_type: str | None
    size: int | None
    url: str | None


MessageStatus = Literal["queued", "sent", "delivered", "read", "failed", "unknown"]


class StatusChange(BaseModel):
    status: MessageStatus
    at: datetime
    error_code: str | None = None
    error: str | None = None


class MessageError(BaseModel):
    code: str | None
    message: str | None


class EditOut(BaseModel):
    text: str = Field(description="The text as it was before this edit")
    edited_at: datetime = Field(description="When the edit replaced it")


class MessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    channel: str
    direction: str
    provider: str
    provider_message_id: str | None  # outbound: once the provider accepted it
    content_type: str
    sender: SenderOut = Field(serialization_alias="from")
    subject: str | None
    text: str
    full_text: str
    attachments: list[AttachmentOut]
    sent_at: datetime
    received_at: datetime
    in_reply_to: str | None
    status: MessageStatus | None  # outbound only
    status_history: list[StatusChange]
    agent_id: str | None
    error: MessageError | None
    edit_history: list[EditOut] = Field(
        description="Texts the sender's edits replaced, oldest first; `text` is the"
        " newest version"
    )


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, pattern=NO_NUL)
    language: str = Field(min_length=2, max_length=35, pattern=r"^[A-Za-z0-9_-]+$")
    variables: list[Annotated[str, Field(max_length=1024, pattern=NO_NUL)]] = Field(
        default_factory=list, max_length=100
    )


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://[\x21-\x7e]+$")
    filename: str | None = Field(default=None, max_length=255, pattern=NO_NUL)
    content_type: str | None = Field(
        default=None, max_length=255, pattern=r"^[\x21-\x7e]+$"
    )


class ReplyIn(BaseModel):
    """An agent's reply; `channel` defaults to that of the latest inbound message."""

    model_config = ConfigDict(extra="forbid")

    # Required even with a template: the timeline shows it (and email/SMS send it).
    text: str = Field(min_length=1, max_length=32_000, pattern=r"^[^\x00]*\S[^\x00]*$")
    channel: ChannelName | None = None
    agent_id: str | None = Field(
        default=None, max_length=128, pattern=r"^[A-Za-z0-9._@:-]{1,128}$"
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)
    template: TemplateIn | None = None
    client_message_id: str | None = Field(
        default=None, max_length=255, pattern=r"^[\x21-\x7e]+$"
    )

    def request(
        self, conversation_id: uuid.UUID, idempotency_key: str | None
    ) -> ReplyRequest:
        template = self.template
        return ReplyRequest(
            conversation_id=conversation_id,
            text=self.text,
            channel=self.channel,
            agent_id=self.agent_id,
            attachments=tuple(
                MediaLink(url=a.url, filename=a.filename, content_type=a.content_type)
                for a in self.attachments
            ),
            template=Template(
                name=template.name,
                language=template.language,
                variables=tuple(template.variables),
            )
            if template is not None
            else None,
            idempotency_key=idempotency_key or self.client_message_id,
        )


ChannelName = Literal[
    "sms", "whatsapp", "email", "messenger", "instagram", "chat", "telegram"
]


class TimelineOut(BaseModel):
    customer_id: uuid.UUID
    items: list[MessageOut]
    next_cursor: str | None


def _attachment_json(view: AttachmentView, base_url: str) -> dict[str, object]:
    url = f"{base_url}/v1/attachments/{view.id}" if view.sha256 else view.url
    return {
        "id": view.id,
        "filename": view.filename,
        "content_type": view.content_type,
        "size": view.size,
        "url": url,
    }


def _message_json(view: MessageView, base_url: str) -> dict[str, object]:
    """The MessageOut document, built directly (same keys, same order)."""
    return {
        "id": view.id,
        "customer_id": view.customer_id,
        "conversation_id": view.conversation_id,
        "channel": view.channel,
        "direction": view.direction,
        "provider": view.provider,
        "provider_message_id": view.provider_message_id,
        "content_type": view.content_type,
        "from": {
            "kind": view.sender_kind,
            "value": view.sender_value,
            "name": view.sender_name,
        },
        "subject": view.subject,
        "text": view.text,
        "full_text": view.full_text,
        "attachments": [_attachment_json(a, base_url) for a in view.attachments],
        "sent_at": view.sent_at,
        "received_at": view.received_at,
        "in_reply_to": view.in_reply_to,
        "status": view.status,
        "status_history": view.status_history,
        "agent_id": view.agent_id,
        "error": _error_json(view),
        "edit_history": [
            {"text": e.text, "edited_at": e.edited_at} for e in view.edit_history
        ],
    }


def _error_json(view: MessageView) -> dict[str, object] | None:
    if view.error_code is None and view.error_message is None:
        return None
    return {"code": view.error_code, "message": view.error_message}


def message_json(view: MessageView, base_url: str) -> bytes:
    """One MessageOut document as JSON bytes."""
    return orjson.dumps(
        _message_json(view, base_url), default=str, option=orjson.OPT_UTC_Z
    )


def timeline_json(customer_id: uuid.UUID, page: Page, base_url: str) -> bytes:
    """A TimelineOut document as JSON bytes (UTC times with `Z`, as pydantic writes)."""
    document = {
        "customer_id": customer_id,
        "items": [_message_json(m, base_url) for m in page.items],
        "next_cursor": page.next_cursor,
    }
    # asyncpg's UUID subclass is not orjson's uuid.UUID: `str` renders it the same.
    return orjson.dumps(document, default=str, option=orjson.OPT_UTC_Z)


class SlaTimerOut(BaseModel):
    target_seconds: int
    due_at: datetime | None
    remaining_seconds: float
    status: Literal["active", "paused", "met", "breached"]
    met_at: datetime | None
    breached_at: datetime | None


class SlaOut(BaseModel):
    policy_id: str
    first_response: SlaTimerOut | None
    next_response: SlaTimerOut | None
    resolution: SlaTimerOut | None

    @classmethod
    def from_view(cls, view: SlaView) -> SlaOut:
        def timer(found: TimerView | None) -> SlaTimerOut | None:
            return None if found is None else SlaTimerOut(**asdict(found))

        return cls(
            policy_id=view.policy_id,
            first_response=timer(view.first_response),
            next_response=timer(view.next_response),
            resolution=timer(view.resolution),
        )


class CsatOut(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str | None
    at: datetime


class FollowUpOut(BaseModel):
    status: Literal["scheduled", "sent", "skipped"]
    reason: str | None


class ConversationOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    status: Literal["open", "pending", "closed"]
    channels: list[str]
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    last_message_at: datetime
    message_count: int
    queue: str | None
    priority: str | None
    skills: list[str]
    tags: list[str]
    first_response_at: datetime | None
    first_response_seconds: float | None
    assignment: Literal["none", "waiting", "offered", "assigned"]
    assigned_agent_id: str | None
    waiting_since: datetime | None
    pending_since: datetime | None
    sla: SlaOut | None
    csat: CsatOut | None
    follow_up: FollowUpOut | None

    @classmethod
    def from_read(cls, read: ConversationRead) -> ConversationOut:
        view = read.view
        fields = {f: getattr(view, f) for f in ConversationView.__slots__}
        fields.pop("holder_agent_id")
        fields.pop("sla_policy_id")
        status, reason = fields.pop("follow_up_status"), fields.pop("follow_up_reason")
        score, comment, at = (
            fields.pop("csat_score"),
            fields.pop("csat_comment"),
            fields.pop("csat_at"),
        )
        fields["follow_up"] = (
            FollowUpOut(status=status, reason=reason) if status else None
        )
        fields["csat"] = (
            CsatOut(score=score, comment=comment, at=at) if score is not None else None
        )
        fields["status"] = view.shown_status
        fields["assigned_agent_id"] = view.assigned_agent_id
        fields["waiting_since"] = view.waiting_since_shown
        fields["sla"] = SlaOut.from_view(read.sla) if read.sla is not None else None
        return cls(**fields)


class ConversationList(BaseModel):
    items: list[ConversationOut]


class PreviousRouting(BaseModel):
    queue: str
    priority: str


class DecisionOut(BaseModel):
    id: uuid.UUID
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    queue: str
    priority: str
    skills: list[str]
    tags: list[str]
    language: str | None
    rule_id: str | None
    matched_conditions: list[str]
    reason: str
    rules_version: str
    new_conversation: bool
    changed: bool
    escalated: bool
    previous: PreviousRouting | None
    decided_at: datetime

    @classmethod
    def from_view(cls, view: DecisionView) -> DecisionOut:
        queue, priority = view.previous_queue, view.previous_priority
        previous = (
            PreviousRouting(queue=queue, priority=priority or "")
            if queue is not None
            else None
        )
        return cls(
            id=view.id,
            message_id=view.message_id,
            conversation_id=view.conversation_id,
            customer_id=view.customer_id,
            queue=view.queue,
            priority=view.priority,
            skills=list(view.skills),
            tags=list(view.tags),
            language=view.language,
            rule_id=view.rule_id,
            matched_conditions=list(view.matched_conditions),
            reason=view.reason,
            rules_version=view.rules_version,
            new_conversation=view.new_conversation,
            changed=view.changed,
            escalated=view.escalated,
            previous=previous,
            decided_at=view.decided_at,
        )


class DecisionList(BaseModel):
    items: list[DecisionOut]
