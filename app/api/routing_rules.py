"""The active routing rules: show them, reload them from the file."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from app.api.deps import Rules, require_token
from app.api.openapi import problems
from app.api.problems import PayloadRejected, ServiceUnavailable
from app.rules_state import ActiveRules
from routing.model import Action
from routing.rules import RulesError

router = APIRouter(
    prefix="/v1/routing", tags=["routing"], dependencies=[Depends(require_token)]
)


class RuleOut(BaseModel):
    id: str
    conditions: list[str]
    queue: str
    priority: str
    skills: list[str]
    tags: list[str]
    escalate: bool


class RulesOut(BaseModel):
    version: str
    path: str
    rules: list[RuleOut]
    default: RuleOut
    source: str  # the YAML as loaded


def _out(active: ActiveRules) -> RulesOut:
    def rule(rule_id: str, conditions: list[str], a: Action) -> RuleOut:
        return RuleOut(
            id=rule_id,
            conditions=conditions,
            queue=a.queue,
            priority=a.priority.value,
            skills=list(a.skills),
            tags=list(a.tags),
            escalate=a.escalate,
        )

    rs = active.rules
    return RulesOut(
        version=rs.version,
        path=str(active.path),
        source=active.source,
        rules=[rule(r.id, [c.name for c in r.conditions], r.then) for r in rs.rules],
        default=rule("default", [], rs.default),
    )


@router.get("/rules", response_model=RulesOut, responses=problems(401))
async def get_rules(rules: Rules) -> RulesOut:
    """The rules in force and their version (a hash of the file)."""
    return _out(rules.active)


@router.post(
    "/rules/reload",
    response_model=RulesOut,
    responses=problems(
        401,
        422,
        503,
        notes={
            422: "The rules file is invalid; the previous rules stay in force",
            503: "The rules file is unreadable; the previous rules stay in force",
        },
    ),
)
async def reload_rules(rules: Rules) -> RulesOut:
    """Re-read the rules file; a bad file is rejected and the previous rules stay."""
    try:
        return _out(rules.reload())
    except RulesError as error:
        raise PayloadRejected(
            str(error),
            line=error.line,
            rule_id=error.rule_id,
            active_version=rules.rules.version,
        ) from None
    except OSError as error:
        raise ServiceUnavailable(
            f"rules file unreadable: {error.strerror}",
            active_version=rules.rules.version,
        ) from None
