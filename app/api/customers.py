"""Customers and their cross-channel timeline, for agent desktops."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.api.deps import CurrentSettings, Db, Events, require_token
from app.api.openapi import problems
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
# Every /{customer_id} route resolves the live customer first: 308, 404, 422 (not a UUID).
_ONE = problems(308, 401, 404, 422, 503)
_EDIT = problems(
    308,
    400,
    401,
    404,
    413,
    422,
    503,
    notes={400: "The body is not decodable (e.g. invalid UTF-8)"},
)
# OpenAPI cannot say "exactly one of these query parameters" with three parameters, but
# it can with one form-exploded object parameter (`?email=...` on the wire), so the
# lookup is documented as that; FastAPI still reads the three names (hidden below).
_LOOKUP = {
    "parameters": [
        {
            "name": "lookup",
            "in": "query",
            "required": True,
            "style": "form",
            "explode": True,
            "description": "Exactly one of `email`, `phone` (any common format) or "
            "`identity` (`kind:value`); anything else is a 400.",
            "schema": {
                "type": "object",
                "properties": {
                    "email": {"type": "string"},
                    "phone": {"type": "string"},
                    "identity": {
                        "type": "string",
                        "pattern": f"^({'|'.join(IdentityKind)}):",
                    },
                },
                "oneOf": [
                    {"required": ["email"]},
                    {"required": ["phone"]},
                    {"required": ["identity"]},
                ],
            },
        }
    ]
}
_Hidden = Query(include_in_schema=False)


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


@router.get(
    "",
    response_model=CustomerList,
    responses=problems(
        400, 401, 503, notes={400: "Not exactly one of email, phone, identity"}
    ),
    openapi_extra=_LOOKUP,
)
async def find_customers(
    db: Db,
    settings: CurrentSettings,
    email: Annotated[str | None, _Hidden] = None,
    phone: Annotated[str | None, _Hidden] = None,
    identity: Annotated[str | None, _Hidden] = None,
) -> CustomerList:
    """Look a customer up by a verified identity; phones in any common format."""
    claim = _claim(email, phone, identity, settings.default_phone_region)
    found = await customers.find(db, claim)
    return CustomerList(items=[CustomerOut.from_view(v) for v in found])


@router.get("/{customer_id}", response_model=CustomerOut, responses=_ONE)
async def get_customer(customer_id: LiveCustomer, db: Db) -> CustomerOut:
    """One customer with identities; 308 to the survivor when merged."""
    return CustomerOut.from_view(await customers.get(db, customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut, responses=_EDIT)
async def patch_customer(
    customer_id: LiveCustomer, patch: CustomerPatch, db: Db
) -> CustomerOut:
    view = await customers.update(db, customer_id, patch.change())
    return CustomerOut.from_view(view)


@router.post(
    "/{customer_id}/merge",
    response_model=CustomerOut,
    responses=_EDIT | problems(409, notes={409: "Either customer was already merged"}),
)
async def merge_customer(
    customer_id: LiveCustomer, body: MergeRequest, db: Db, events: Events
) -> CustomerOut:
    """Fold `merge_customer_id` into this customer, which survives."""
    view = await customers.merge(
        db, customer_id, body.merge_customer_id, "manual merge via API", events
    )
    return CustomerOut.from_view(view)


@router.get(
    "/{customer_id}/timeline",
    response_model=TimelineOut,
    responses=_ONE
    | problems(400, notes={400: "`before` is not a cursor this API issued"}),
)
async def get_timeline(
    customer_id: uuid.UUID,
    db: Db,
    settings: CurrentSettings,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        str | None,
        Query(description="The `next_cursor` of the previous page; others are a 400"),
    ] = None,
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
