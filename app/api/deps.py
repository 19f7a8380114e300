"""`Annotated` dependency aliases: what a route needs, taken from app.state."""

from __future__ import annotations

import hmac
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.problems import Unauthorized
from app.assignment import AgentEventHub
from app.attachment_store import AttachmentStore
from app.db import Database
from app.events import EventConfig
from app.metrics import Metrics
from app.relay import Relay
from app.rules_state import RulesHolder
from app.settings import Settings

log = structlog.get_logger(__name__)


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _attachments(request: Request) -> AttachmentStore:
    store: AttachmentStore = request.app.state.attachments
    return store


CurrentSettings = Annotated[Settings, Depends(_settings)]
Db = Annotated[Database, Depends(_db)]
Attachments = Annotated[AttachmentStore, Depends(_attachments)]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="omniroute"'}
# Declares the bearer scheme in OpenAPI; the check itself stays ours (problem documents).
_bearer = HTTPBearer(
    auto_error=False, description="One of the tokens in OMNIROUTE_API_TOKENS."
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def require_token(
    request: Request, settings: CurrentSettings, credentials: BearerCredentials
) -> None:
    """401 unless `Authorization: Bearer <token>` names a configured API token."""
    if credentials is None:
        log.info("api.rejected", reason="missing_bearer_token", path=request.url.path)
        raise Unauthorized("send Authorization: Bearer <token>", headers=_CHALLENGE)
    token = credentials.credentials.encode()
    candidates = [t.get_secret_value().encode() for t in settings.api_tokens]
    if not any(hmac.compare_digest(token, c) for c in candidates):
        log.info("api.rejected", reason="unknown_bearer_token", path=request.url.path)
        raise Unauthorized("the bearer token is not valid", headers=_CHALLENGE)


async def _events(request: Request) -> EventConfig:
    events: EventConfig = request.app.state.events
    return events


async def _rules(request: Request) -> RulesHolder:
    rules: RulesHolder = request.app.state.rules
    return rules


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def _relay(request: Request) -> Relay | None:
    relay: Relay | None = request.app.state.relay
    return relay


Events = Annotated[EventConfig, Depends(_events)]
Rules = Annotated[RulesHolder, Depends(_rules)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
RelayDep = Annotated[Relay | None, Depends(_relay)]


async def _hub(request: Request) -> AgentEventHub:
    hub: AgentEventHub = request.app.state.agent_events
    return hub


Hub = Annotated[AgentEventHub, Depends(_hub)]
