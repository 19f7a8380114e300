"""Agents and presence, their offers and their desktop event stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.api.assignment_schemas import (
    AGENT_ID_PATTERN,
    AgentIn,
    AgentList,
    AgentOut,
    OfferList,
    OfferOut,
    StatusIn,
)
from app.api.deps import CurrentSettings, Db, Events, Hub, require_token
from app.api.openapi import Responses, problems
from app.assignment import AgentSettings, agents, stream

router = APIRouter(
    prefix="/v1/agents", tags=["agents"], dependencies=[Depends(require_token)]
)
AgentId = Annotated[str, Path(pattern=AGENT_ID_PATTERN)]
_ONE = problems(401, 404, 422, 503)
_CREATED: Responses = {201: {"model": AgentOut, "description": "created"}}
_STREAM: Responses = {
    200: {
        "description": "Server-Sent Events: offer, offer_withdrawn, assigned,"
        " released, message; `id` increases per agent; a comment every 15 s.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.put(
    "/{agent_id}",
    response_model=AgentOut,
    responses=_CREATED | problems(400, 401, 413, 422, 503),
)
async def put_agent(
    agent_id: AgentId, body: AgentIn, db: Db, events: Events, response: Response
) -> AgentOut:
    """Create or replace; a new agent starts offline. A channel left out has
    capacity 0."""
    settings = AgentSettings(
        id=agent_id,
        name=body.name,
        queues=tuple(dict.fromkeys(body.queues)),
        skills=tuple(dict.fromkeys(body.skills)),
        languages=tuple(dict.fromkeys(body.languages)),
        capacity={str(c): n for c, n in body.capacity.items()},
    )
    view, created = await agents.put(db, settings, events)
    if created:
        response.status_code = 201
    return AgentOut.from_view(view)


@router.get("", response_model=AgentList, responses=problems(401, 503))
async def list_agents(db: Db) -> AgentList:
    return AgentList(items=[AgentOut.from_view(v) for v in await agents.listing(db)])


@router.get("/{agent_id}", response_model=AgentOut, responses=_ONE)
async def get_agent(agent_id: AgentId, db: Db) -> AgentOut:
    return AgentOut.from_view(await agents.get(db, agent_id))


@router.delete("/{agent_id}", status_code=204, responses=_ONE)
async def delete_agent(agent_id: AgentId, db: Db, events: Events) -> Response:
    """Its offers are withdrawn and its conversations go back to their queues."""
    await agents.delete(db, agent_id, events)
    return Response(status_code=204)


@router.put(
    "/{agent_id}/status",
    response_model=AgentOut,
    responses=problems(400, 401, 404, 413, 422, 503),
)
async def set_status(
    agent_id: AgentId, body: StatusIn, db: Db, events: Events
) -> AgentOut:
    """available: receives offers; away: keeps its conversations, gets no offers;
    offline: pending offers withdrawn now, conversations back to their queues after
    OMNIROUTE_OFFLINE_GRACE_SECONDS."""
    return AgentOut.from_view(
        await agents.set_status(db, agent_id, body.status, events)
    )


@router.get("/{agent_id}/offers", response_model=OfferList, responses=_ONE)
async def list_offers(agent_id: AgentId, db: Db) -> OfferList:
    """Pending offers, oldest first."""
    found = await agents.offers_of(db, agent_id)
    return OfferList(items=[OfferOut.from_row(o) for o in found])


@router.get(
    "/{agent_id}/events",
    response_class=EventSourceResponse,
    responses=_STREAM | problems(401, 404, 422, 503),
)
async def agent_events(
    agent_id: AgentId,
    db: Db,
    hub: Hub,
    settings: CurrentSettings,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64)
    ] = None,
) -> EventSourceResponse:
    """The agent's desktop feed, served by any replica; resumes after Last-Event-ID
    (events of the last hour are kept). An id this service did not send is treated
    as no id, as an EventSource would: the stream starts at the newest event."""
    after = await stream.start_at(db, agent_id, _event_id(last_event_id))
    events = (
        ServerSentEvent(data=e.data, event=e.kind, id=str(e.seq))
        async for e in stream.agent_events(db, hub, agent_id, after)
    )
    return EventSourceResponse(events, ping=settings.sse_heartbeat_seconds)


def _event_id(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit() and len(value) < 19):
        return None
    return int(value)
