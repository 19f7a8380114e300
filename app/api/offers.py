"""An agent answers an offer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from app.api.assignment_schemas import DeclineIn, OfferOut
from app.api.deps import Db, Events, MetricsDep, require_token
from app.api.openapi import problems
from app.assignment import offers

router = APIRouter(
    prefix="/v1/offers", tags=["agents"], dependencies=[Depends(require_token)]
)
_ANSWER = problems(
    400,
    401,
    404,
    409,
    413,
    422,
    503,
    notes={409: "the offer was withdrawn, answered or expired"},
)


@router.post("/{offer_id}/accept", response_model=OfferOut, responses=_ANSWER)
async def accept_offer(
    offer_id: uuid.UUID, db: Db, events: Events, metrics: MetricsDep
) -> OfferOut:
    """The conversation is assigned to the offer's agent."""
    return OfferOut.from_row(await offers.accept(db, offer_id, events, metrics))


@router.post("/{offer_id}/decline", response_model=OfferOut, responses=_ANSWER)
async def decline_offer(
    offer_id: uuid.UUID,
    db: Db,
    events: Events,
    metrics: MetricsDep,
    body: DeclineIn | None = None,
) -> OfferOut:
    """The next eligible agent gets the offer; never this one again."""
    reason = body.reason if body is not None else None
    return OfferOut.from_row(
        await offers.decline(db, offer_id, reason, events, metrics)
    )
