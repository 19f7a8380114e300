"""Follow-up surveys after a close and the customer's rating of them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import asyncpg
import structlog

from app.db import Database
from app.errors import Problem
from app.events import EventConfig, csat_received
from app.replies.accept import ReplyRequest, WindowClosed, accept
from app.repositories.kpis import Kpis
from app.repositories.outbox import Outbox
from app.settings import Settings
from app.sla.timers import SlaContext
from connectors.model import InboundMessage
from outbound.model import Template
from routing.csat import parse_rating

log = structlog.get_logger(__name__)

ANSWER_WITHIN = timedelta(hours=24)  # a rating later than this is a new message
BATCH = 100


async def take_rating(
    conn: asyncpg.Connection,
    config: EventConfig,
    customer_id: uuid.UUID,
    msg: InboundMessage,
    now: datetime,
) -> uuid.UUID | None:
    """In the message's transaction, for a customer without an open conversation:
    when `msg` answers a survey sent in the last 24 hours with a rating, record it
    on the surveyed conversation (no new conversation opens) and return its id.
    None: an ordinary message."""
    rating = parse_rating(msg.text)
    if rating is None:
        return None
    kpis = Kpis(conn)
    key = f"{msg.provider}:{msg.provider_message_id}"
    seen = await kpis.csat_seen(customer_id, key)
    if seen is not None:
        return seen  # a redelivery of the rating: nothing new
    surveyed = await kpis.awaiting_survey(customer_id, now - ANSWER_WITHIN)
    if surveyed is None:
        return None
    await kpis.record_csat(surveyed, rating.score, rating.comment, now, key)
    event = csat_received(
        config,
        conversation_id=surveyed,
        customer_id=customer_id,
        score=rating.score,
        comment=rating.comment,
        channel=msg.channel.value,
        at=now,
    )
    await Outbox(conn).add(event)
    return surveyed


async def send_follow_ups(
    db: Database, settings: Settings, sla: SlaContext, now: datetime
) -> int:
    """Surveys that are due go out through the outbound pipeline on the customer's
    last channel; outside a channel's window the queue's template is used, or the
    survey is skipped (`window`), never a send that would fail. Returns how many
    were sent."""
    async with db.connection() as conn:
        due = await Kpis(conn).due_follow_ups(now, BATCH)
    sent = 0
    for conversation_id, queue in due:
        policy = sla.rules.rules.queue_policy(queue) if queue else None
        follow_up = policy.follow_up if policy else None
        if follow_up is None:
            await _mark(db, conversation_id, "skipped", "not configured", None)
            continue
        request = ReplyRequest(
            conversation_id=conversation_id,
            text=follow_up.text,
            idempotency_key=f"omniroute-follow-up:{conversation_id}",
            after_close=True,
        )
        try:
            try:
                await accept(db, request, settings, now, sla)
            except WindowClosed:
                if follow_up.template is None:
                    raise
                name, language = follow_up.template
                with_template = replace(
                    request,
                    template=Template(name=name, language=language),
                    idempotency_key=f"{request.idempotency_key}:template",
                )
                await accept(db, with_template, settings, now, sla)
        except WindowClosed:
            await _mark(db, conversation_id, "skipped", "window", None)
            continue
        except Problem as problem:  # no identity on the channel, not configured, ...
            await _mark(db, conversation_id, "skipped", problem.slug, None)
            continue
        reason = None if follow_up.csat else "no rating asked"
        await _mark(db, conversation_id, "sent", reason, now)
        sent += 1
    return sent


async def _mark(
    db: Database,
    conversation_id: uuid.UUID,
    status: str,
    reason: str | None,
    sent_at: datetime | None,
) -> None:
    async with db.transaction() as conn:
        await Kpis(conn).mark_follow_up(conversation_id, status, reason, sent_at)
    log.info("follow_up." + status, conversation_id=str(conversation_id), reason=reason)
