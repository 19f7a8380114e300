"""Accepting an agent's reply: stored as queued in the conversation's timeline with its
dispatch row, in one transaction; the same idempotency key never makes a second one."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.db import Database
from app.dispatch.senders import configs
from app.errors import Conflict, NotFound, PayloadRejected, ServiceUnavailable
from app.replies.channels import IDENTITY_KIND, missing_settings
from app.repositories.dispatches import Dispatches
from app.repositories.replies import (
    ConversationForReply,
    InboundContext,
    NewReply,
    Replies,
)
from app.repositories.timeline import MessageView, Timeline
from app.settings import Settings
from app.sla.timers import SlaContext, after_agent_reply
from outbound import registry, windows
from outbound.model import (
    Delivery,
    MediaLink,
    SendRefused,
    Template,
    delivery_to_json,
)


class ConversationNotFound(NotFound):
    pass


class ConversationClosed(Conflict):
    slug = "conversation-closed"


class WindowClosed(Conflict):
    slug = "channel-window-closed"


class NoIdentityForChannel(PayloadRejected):
    slug = "no-identity-for-channel"


class IdempotencyKeyReused(PayloadRejected):
    slug = "idempotency-key-reused"


class ChannelNotConfigured(ServiceUnavailable):
    slug = "channel-not-configured"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyRequest:
    conversation_id: uuid.UUID
    text: str
    channel: str | None = None
    agent_id: str | None = None
    attachments: tuple[MediaLink, ...] = ()
    template: Template | None = None
    idempotency_key: str | None = None
    after_close: bool = False  # the follow-up survey: allowed on a closed conversation

    def fingerprint(self) -> str:
        """What must be equal for a retried request with the same key."""
        body = dataclasses.asdict(self)
        body.pop("idempotency_key")
        body["conversation_id"] = str(self.conversation_id)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Accepted:
    message: MessageView
    is_new: bool  # False: an earlier request with the same key


async def accept(
    db: Database,
    request: ReplyRequest,
    settings: Settings,
    now: datetime,
    sla: SlaContext,
) -> Accepted:
    """Store the reply and queue its send; raises a Problem for what cannot go."""
    fingerprint = request.fingerprint()
    async with db.transaction() as conn:
        earlier = await _earlier(conn, request, fingerprint)
        if earlier is None:
            reply, delivery = await _compose(conn, request, settings, now, fingerprint)
            if await Replies(conn).insert(reply):
                await Dispatches(conn).add(
                    reply.id, delivery.provider, delivery_to_json(delivery)
                )
                if reply.agent_id is not None:  # an agent answered: timers are met
                    await after_agent_reply(
                        conn, sla, reply.conversation_id, reply.agent_id, now
                    )
                earlier = reply.id
            else:  # a concurrent twin with the same key committed first
                earlier = await _earlier(conn, request, fingerprint)
                assert earlier is not None
                return Accepted(await _view(conn, earlier), is_new=False)
            return Accepted(await _view(conn, earlier), is_new=True)
        return Accepted(await _view(conn, earlier), is_new=False)


async def _earlier(
    conn: asyncpg.Connection, request: ReplyRequest, fingerprint: str
) -> uuid.UUID | None:
    if request.idempotency_key is None:
        return None
    found = await Replies(conn).by_idempotency_key(request.idempotency_key)
    if found is None:
        return None
    message_id, earlier_fingerprint = found
    if earlier_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different request",
            message_id=str(message_id),
        )
    return message_id


async def _compose(
    conn: asyncpg.Connection,
    request: ReplyRequest,
    settings: Settings,
    now: datetime,
    fingerprint: str,
) -> tuple[NewReply, Delivery]:
    replies = Replies(conn)
    conversation = await replies.lock_conversation(request.conversation_id)
    if conversation is None:
        raise ConversationNotFound(
            f"conversation {request.conversation_id} does not exist"
        )
    if conversation.status != "open" and not request.after_close:
        raise ConversationClosed(
            f"conversation {conversation.id} is closed; the customer's next message"
            " opens a new one"
        )
    inbound = await replies.latest_inbound(conversation.id, request.channel)
    channel = request.channel or (inbound.channel if inbound else None)
    if channel is None:
        raise NoIdentityForChannel(
            "the conversation has no inbound message to answer; give `channel`",
            channel=None,
        )
    if inbound is None:
        inbound = await replies.latest_inbound_of_customer(
            conversation.customer_id, channel
        )
    recipient = await _recipient(replies, conversation, channel, inbound)
    provider = registry.provider_for(
        channel,
        inbound_provider=inbound.provider if inbound else None,
        email_outbound=settings.email_outbound,
    )
    missing = missing_settings(provider, settings)
    if missing:
        raise ChannelNotConfigured(
            f"sending on {channel} through {provider} needs {', '.join(missing)}",
            setting=missing[0],
            channel=channel,
        )
    verdict = await _window(replies, conversation, channel, request, now)
    message_id = uuid.uuid4()
    delivery = _delivery(
        message_id, provider, channel, recipient, inbound, request, verdict, settings
    )
    _check_buildable(delivery, settings)
    reply = NewReply(
        id=message_id,
        customer_id=conversation.customer_id,
        conversation_id=conversation.id,
        channel=channel,
        provider=provider,
        agent_id=request.agent_id,
        recipient=recipient,
        subject=delivery.subject,
        text=request.text,
        email_message_id=_email_id(message_id, settings, inbound)
        if channel == "email"
        else None,
        in_reply_to=delivery.reply_to if channel == "email" else None,
        references=delivery.references,
        at=now,
        idempotency_key=request.idempotency_key,
        request_hash=fingerprint,
        attachments=[(a.filename, a.content_type, a.url) for a in request.attachments],
    )
    return reply, delivery


async def _recipient(
    replies: Replies,
    conversation: ConversationForReply,
    channel: str,
    inbound: InboundContext | None,
) -> str:
    """Whoever the latest inbound message on that channel came from (not whatever
    identity a merged customer lists first); else the customer's verified identity."""
    if inbound is not None:
        return inbound.sender_value
    kind = IDENTITY_KIND.get(channel)
    value = await replies.identity(conversation.customer_id, kind) if kind else None
    if value is None:
        raise NoIdentityForChannel(
            f"the customer has no {channel} identity to send to", channel=channel
        )
    return value


async def _window(
    replies: Replies,
    conversation: ConversationForReply,
    channel: str,
    request: ReplyRequest,
    now: datetime,
) -> windows.WindowVerdict:
    last = await replies.latest_inbound_of_customer(conversation.customer_id, channel)
    verdict = windows.check(
        channel,
        last_inbound_at=last.sent_at if last else None,
        now=now,
        has_template=request.template is not None,
    )
    if not verdict.is_allowed:
        raise WindowClosed(verdict.detail, rule=verdict.rule, channel=channel)
    return verdict  # a template on a channel without templates: its text is sent


def _delivery(
    message_id: uuid.UUID,
    provider: str,
    channel: str,
    recipient: str,
    inbound: InboundContext | None,
    request: ReplyRequest,
    verdict: windows.WindowVerdict,
    settings: Settings,
) -> Delivery:
    is_email = channel == "email"
    references: tuple[str, ...] = ()
    reply_to = None
    if inbound is not None:
        reply_to = inbound.email_message_id if is_email else inbound.provider_message_id
        if is_email and inbound.email_message_id:
            references = (*inbound.reference_ids, inbound.email_message_id)
    sender = inbound.recipient if inbound is not None else None
    if is_email and sender is None:
        sender = settings.email_from
    return Delivery(
        message_id=str(message_id),
        provider=provider,
        channel=channel,
        to=recipient,
        sender=sender,
        text=request.text,
        # Templates exist on WhatsApp only; elsewhere the text is what is sent.
        template=request.template if channel == "whatsapp" else None,
        attachments=request.attachments,
        reply_to=reply_to,
        references=references,
        subject=inbound.subject if inbound is not None and is_email else None,
        messaging_type=verdict.messaging_type,
        tag=verdict.tag,
    )


class ReplyRefused(PayloadRejected):
    slug = "reply-refused"


def _check_buildable(delivery: Delivery, settings: Settings) -> None:
    """Refuse now (422) what the provider request could never carry: nothing lost."""
    config = configs(settings).get(delivery.provider)
    if config is None:  # SMTP: built at send time from the same fields
        return
    try:
        registry.build(delivery, config)
    except SendRefused as refused:
        raise ReplyRefused(refused.reason, channel=delivery.channel) from None


def _email_id(
    message_id: uuid.UUID, settings: Settings, inbound: InboundContext | None
) -> str:
    """Our Message-ID, so the customer's answer threads back into the conversation."""
    domain = settings.mailgun_domain
    if domain is None:
        address = (inbound.recipient if inbound else None) or settings.email_from or ""
        domain = address.rpartition("@")[2] or "omniroute.invalid"
    return f"{message_id}@{domain}"


async def _view(conn: asyncpg.Connection, message_id: uuid.UUID) -> MessageView:
    view = await Timeline(conn).message(message_id)
    assert view is not None  # written in this transaction or committed before
    return view
