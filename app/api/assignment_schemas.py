"""Request and response bodies of agents, offers, queues and assignment records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from app.assignment import AgentView, AssignmentRecord, OfferRow, QueueView
from routing.model import CHANNELS

AGENT_ID_PATTERN = r"^[A-Za-z0-9._@:-]{1,128}$"
_Name = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*$")
]
Channel = Literal[
    "email", "sms", "whatsapp", "messenger", "instagram", "chat", "telegram"
]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]


def _not_bool(value: object) -> object:
    # JSON Schema's integer admits 3.0 (pydantic does too) but not true.
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    return value


_Capacity = Annotated[int, Field(ge=0, le=1000), BeforeValidator(_not_bool)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentIn(_In):
    name: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    ]
    queues: Annotated[list[_Name], Field(max_length=100)] = []
    skills: Annotated[list[_Name], Field(max_length=100)] = []
    languages: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]],
        Field(max_length=50),
    ] = []
    capacity: dict[Channel, _Capacity] = {}


class StatusIn(_In):
    status: Literal["available", "away", "offline"]


class DeclineIn(_In):
    reason: (
        Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] | None
    ) = None


class TransferToQueue(_In):
    """It waits in `queue`, keeping its place in line by waiting-since."""

    queue: _Name


class TransferToAgent(_In):
    """An offer to `agent_id`, who needs free capacity on the channel unless `force`."""

    agent_id: Annotated[str, StringConstraints(pattern=AGENT_ID_PATTERN)]
    force: bool = False


# Exactly one target: extra fields are forbidden, so a body naming both matches neither.
TransferIn = TransferToQueue | TransferToAgent


class OfferOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: str
    queue: str
    channel: str
    priority: str
    status: Literal["pending", "accepted", "declined", "timed_out", "withdrawn"]
    offered_at: datetime
    expires_at: datetime

    @classmethod
    def from_row(cls, offer: OfferRow) -> OfferOut:
        return cls(**{f: getattr(offer, f) for f in OfferRow.__slots__})


class OfferList(BaseModel):
    items: list[OfferOut]


class AgentOut(BaseModel):
    id: str
    name: str
    status: Literal["available", "away", "offline"]
    queues: list[str]
    skills: list[str]
    languages: list[str]
    capacity: dict[str, int]
    load: dict[str, int]
    free: dict[str, int]
    offers: list[OfferOut]
    conversations: list[uuid.UUID]
    last_assigned_at: datetime | None

    @classmethod
    def from_view(cls, view: AgentView) -> AgentOut:
        agent = view.agent
        return cls(
            id=agent.id,
            name=agent.name,
            status=agent.status,
            queues=list(agent.queues),
            skills=list(agent.skills),
            languages=list(agent.languages),
            capacity=view.capacity,
            load=view.load,
            free=view.free,
            offers=[OfferOut.from_row(o) for o in view.offers],
            conversations=view.conversations,
            last_assigned_at=agent.last_assigned_at,
        )


class AgentList(BaseModel):
    items: list[AgentOut]


class AssignmentOut(BaseModel):
    at: datetime
    outcome: Literal[
        "offered",
        "accepted",
        "declined",
        "timed_out",
        "withdrawn",
        "assigned",
        "released",
        "transferred",
    ]
    agent_id: str | None
    offer_id: uuid.UUID | None
    policy: str | None
    considered: int | None
    eligible: int | None
    excluded: dict[str, int]
    agent_load: int | None
    agent_capacity: int | None
    agent_idle_seconds: float | None
    expansion_step: int | None
    reason: str

    @classmethod
    def from_record(cls, record: AssignmentRecord) -> AssignmentOut:
        fields = {f: getattr(record, f) for f in AssignmentRecord.__slots__}
        fields.pop("conversation_id")
        return cls(**fields)


class AssignmentList(BaseModel):
    items: list[AssignmentOut]


class QueueOut(BaseModel):
    name: str
    policy: str
    waiting: int
    oldest_waiting_seconds: float
    available_agents: int
    free_capacity: dict[str, int]

    @classmethod
    def from_view(cls, view: QueueView) -> QueueOut:
        return cls(**{f: getattr(view, f) for f in QueueView.__slots__})


class QueueList(BaseModel):
    items: list[QueueOut]


class TransferOut(BaseModel):
    conversation_id: uuid.UUID
    queue: str
    offer: OfferOut | None  # the offer to the agent, for a transfer to an agent
