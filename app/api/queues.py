"""Queue figures: the line and the staff."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.assignment_schemas import QueueList, QueueOut
from app.api.deps import Db, Rules, require_token
from app.api.openapi import problems
from app.assignment import queues

router = APIRouter(
    prefix="/v1/queues", tags=["agents"], dependencies=[Depends(require_token)]
)


@router.get("", response_model=QueueList, responses=problems(401, 503))
async def list_queues(db: Db, rules: Rules) -> QueueList:
    """Every queue configured, waited in or staffed: waiting count, oldest waiting
    age, available agents, free capacity per channel, policy."""
    found = await queues.queues(db, rules)
    return QueueList(items=[QueueOut.from_view(q) for q in found])
