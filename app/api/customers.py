"""Customers and their cross-channel timeline, for agent desktops."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app import customers, timeline
from app.api.deps import CurrentSettings, Engine, Events, require_token
from app.api.problems import BadRequest, Conflict, NotFound, PayloadRejected, Problem
from app.api.schemas import (
    CustomerList,
    CustomerOut,
    CustomerPatch,
    MergeRequest,
    MessageOut,
    TimelineOut,
)
from app.merging import MergeRefused
from connectors.identity import canonical
from connectors.model import Channel, IdentityClaim, IdentityKind

router = APIRouter(
    prefix="/v1/customers", tags=["customers"], dependencies=[Depends(require_token)]
)
_PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"content": {"application/problem+json": {}}} for code in (308, 401, 404, 422)
}


class CustomerMovedProblem(Problem):
    status, title, slug = 308, "Customer merged", "customer-merged"


async def _live(request: Request, engine: Engine, customer_id: uuid.UUID) -> uuid.UUID:
    """The path's customer; 308 to the survivor's URL when it was merged away."""
    try:
        return await customers.live_customer_id(engine, customer_id)
    except customers.CustomerNotFound as error:
        raise NotFound(str(error)) from None
    except customers.CustomerMoved as moved:
        location = request.url.path.replace(str(customer_id), str(moved.survivor_id), 1)
        if request.url.query:
            location += f"?{request.url.query}"
        raise CustomerMovedProblem(
            f"customer {customer_id} was merged into {moved.survivor_id}",
            headers={"Location": location},
            survivor_id=str(moved.survivor_id),
        ) from None


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
    engine: Engine,
    settings: CurrentSettings,
    email: str | None = None,
    phone: str | None = None,
    identity: str | None = None,
) -> CustomerList:
    """Look a customer up by a verified identity; phones in any common format."""
    claim = _claim(email, phone, identity, settings.default_phone_region)
    found = await customers.find(engine, claim)
    return CustomerList(items=[CustomerOut.from_view(v) for v in found])


@router.get("/{customer_id}", response_model=CustomerOut, responses=_PROBLEMS)
async def get_customer(customer_id: LiveCustomer, engine: Engine) -> CustomerOut:
    """One customer with identities; 308 to the survivor when merged."""
    return CustomerOut.from_view(await customers.get(engine, customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut, responses=_PROBLEMS)
async def patch_customer(
    customer_id: LiveCustomer, patch: CustomerPatch, engine: Engine
) -> CustomerOut:
    changes = patch.model_dump(include=patch.model_fields_set)
    return CustomerOut.from_view(await customers.update(engine, customer_id, changes))


@router.post(
    "/{customer_id}/merge",
    response_model=CustomerOut,
    responses=_PROBLEMS | {409: _PROBLEMS[404]},
)
async def merge_customer(
    customer_id: LiveCustomer, body: MergeRequest, engine: Engine, events: Events
) -> CustomerOut:
    """Fold `merge_customer_id` into this customer, which survives."""
    try:
        view = await customers.merge(
            engine, customer_id, body.merge_customer_id, "manual merge via API", events
        )
    except MergeRefused as refused:
        problem = {"unknown": NotFound, "already_merged": Conflict}.get(
            refused.code, PayloadRejected
        )
        raise problem(str(refused)) from None
    return CustomerOut.from_view(view)


@router.get("/{customer_id}/timeline", response_model=TimelineOut, responses=_PROBLEMS)
async def get_timeline(
    customer_id: LiveCustomer,
    engine: Engine,
    settings: CurrentSettings,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: str | None = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    conversation_id: uuid.UUID | None = None,
) -> TimelineOut:
    """Every message of the customer across channels, newest first; opaque cursor."""
    try:
        page = await timeline.page(
            engine,
            customer_id,
            limit=limit,
            before=before,
            channels=[c.value for c in channel or ()],
            conversation_id=conversation_id,
        )
    except timeline.CursorInvalid as error:
        raise BadRequest(str(error), parameter="before") from None
    base = settings.public_base_url
    return TimelineOut(
        customer_id=customer_id,
        next_cursor=page.next_cursor,
        items=[MessageOut.from_view(m, base) for m in page.items],
    )
