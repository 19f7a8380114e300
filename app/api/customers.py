"""Customers and their cross-channel timeline, for agent desktops."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.api.deps import CurrentSettings, Db, Events, require_token
from app.api.problems import BadRequest
from app.api.schemas import (
    CustomerList,
    CustomerOut,
    CustomerPatch,
    MergeRequest,
    TimelineOut,
    timeline_json,
)
from app.desk import customers, timeline
from connectors.identity import canonical
from connectors.model import Channel, IdentityClaim, IdentityKind

router = APIRouter(
    prefix="/v1/customers", tags=["customers"], dependencies=[Depends(require_token)]
)
_PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"content": {"application/problem+json": {}}} for code in (308, 401, 404, 422)
}


async def _live(db: Db, customer_id: uuid.UUID) -> uuid.UUID:
    """The path's customer; 308 to the survivor's URL when it was merged away."""
    return await customers.require_live(db, customer_id)


LiveCustomer = Annotated[uuid.UUID, Depends(_live)]


def _claim(
    email: str | None, phone: str | None, identity: str | None, region: str
) -> IdentityClaim:
    given = [(IdentityKind.email, email), (IdentityKind.phone, phone)]
    if identity is not None:
        kind, sep, value = identity.partition(":")
        if not sep or kind not in IdentityKind.__members__:
            raise BadRequest(
                "identity must be kind:value with kind one of "
                + ", ".join(IdentityKind),
                parameter="identity",
            )
        given.append((IdentityKind(kind), value))
    chosen = [(k, v) for k, v in given if v is not None]
    if len(chosen) != 1:
        raise BadRequest("give exactly one of email, phone or identity")
    kind, value = chosen[0]
    return canonical(IdentityClaim(kind=kind, value=value), region)


@router.get("", response_model=CustomerList, responses=_PROBLEMS)
async def find_customers(
    db: Db,
    settings: CurrentSettings,
    email: str | None = None,
    phone: str | None = None,
    identity: str | None = None,
) -> CustomerList:
    """Look a customer up by a verified identity; phones in any common format."""
    claim = _claim(email, phone, identity, settings.default_phone_region)
    found = await customers.find(db, claim)
    return CustomerList(items=[CustomerOut.from_view(v) for v in found])


@router.get("/{customer_id}", response_model=CustomerOut, responses=_PROBLEMS)
async def get_customer(customer_id: LiveCustomer, db: Db) -> CustomerOut:
    """One customer with identities; 308 to the survivor when merged."""
    return CustomerOut.from_view(await customers.get(db, customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut, responses=_PROBLEMS)
async def patch_customer(
    customer_id: LiveCustomer, patch: CustomerPatch, db: Db
) -> CustomerOut:
    view = await customers.update(db, customer_id, patch.change())
    return CustomerOut.from_view(view)


@router.post(
    "/{customer_id}/merge",
    response_model=CustomerOut,
    responses=_PROBLEMS | {409: _PROBLEMS[404]},
)
async def merge_customer(
    customer_id: LiveCustomer, body: MergeRequest, db: Db, events: Events
) -> CustomerOut:
    """Fold `merge_customer_id` into this customer, which survives."""
    view = await customers.merge(
        db, customer_id, body.merge_customer_id, "manual merge via API", events
    )
    return CustomerOut.from_view(view)


@router.get("/{customer_id}/timeline", response_model=TimelineOut, responses=_PROBLEMS)
async def get_timeline(
    customer_id: uuid.UUID,
    db: Db,
    settings: CurrentSettings,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: str | None = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    conversation_id: uuid.UUID | None = None,
) -> Response:
    """Every message of the customer across channels, newest first; opaque cursor.

    Serialized straight from the views (the schema documents the shape): per-item
    model validation cost more CPU than the query itself."""
    page = await timeline.page(
        db,
        customer_id,
        limit=limit,
        before=before,
        channels=[c.value for c in channel or ()],
        conversation_id=conversation_id,
    )
    body = timeline_json(customer_id, page, settings.public_base_url)
    return Response(body, media_type="application/json")
