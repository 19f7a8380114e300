"""Agents answer on the customer's channel: send a reply, send again one whose outcome
is unknown. Delivery goes through the dispatcher; the answer is 202 with the message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from app.api.deps import CurrentSettings, Db, Events, MetricsDep, Rules, require_token
from app.api.openapi import Responses, problems
from app.api.schemas import MessageOut, ReplyIn, message_json
from app.replies import accept, retry
from app.sla.timers import SlaContext

router = APIRouter(tags=["replies"], dependencies=[Depends(require_token)])
_ACCEPTED: Responses = {
    202: {"model": MessageOut, "description": "queued for delivery"}
}


@router.post(
    "/v1/conversations/{conversation_id}/messages",
    status_code=202,
    response_class=Response,
    responses=_ACCEPTED
    | problems(
        400,
        401,
        404,
        409,
        413,
        422,
        503,
        notes={
            409: "the conversation is closed, or the channel's window allows no such"
            " reply now (the problem names the rule)",
            422: "invalid body, a channel the customer has no identity on, or an"
            " Idempotency-Key reused with a different body",
            503: "the channel's sending settings are missing (named), or the"
            " database is unavailable",
        },
    ),
)
async def send_reply(
    conversation_id: uuid.UUID,
    body: ReplyIn,
    db: Db,
    settings: CurrentSettings,
    rules: Rules,
    events: Events,
    metrics: MetricsDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=255, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> Response:
    """Queue a reply; the same Idempotency-Key (or `client_message_id`) returns the
    same message and sends nothing new."""
    request = body.request(conversation_id, idempotency_key)
    sla = SlaContext(rules, events, metrics)
    accepted = await accept.accept(db, request, settings, datetime.now(UTC), sla)
    return Response(
        message_json(accepted.message, settings.public_base_url),
        status_code=202,
        media_type="application/json",
    )


@router.post(
    "/v1/messages/{message_id}/retry",
    status_code=202,
    response_class=Response,
    responses=_ACCEPTED | problems(401, 404, 409, 422, 503),
)
async def retry_message(
    message_id: uuid.UUID, db: Db, settings: CurrentSettings, events: Events
) -> Response:
    """Send again an outbound message that ended `unknown` (or `failed`): a person's
    decision, since the provider may already have delivered it."""
    view = await retry.retry(db, message_id, events, datetime.now(UTC))
    return Response(
        message_json(view, settings.public_base_url),
        status_code=202,
        media_type="application/json",
    )
