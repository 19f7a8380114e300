"""Assignment: conversations reach agents. Agents and presence, the waiting line,
offers and their answers, transfers, the scheduler that acts on time, desktop streams.

The choice is pure (`routing.assignment`); this package does the I/O around it.
"""

from app.assignment.agents import AgentView
from app.assignment.errors import (
    AgentNotFound,
    OfferNotFound,
    OfferNotPending,
    TransferRefused,
)
from app.assignment.queues import QueueView
from app.assignment.scheduler import Scheduler, SchedulerConfig
from app.assignment.stream import AgentEventHub
from app.repositories.agent_events import StoredEvent
from app.repositories.agents import AgentSettings
from app.repositories.assignment_log import AssignmentRecord
from app.repositories.offers import OfferRow

__all__ = [
    "AgentEventHub",
    "AgentNotFound",
    "AgentSettings",
    "AgentView",
    "AssignmentRecord",
    "OfferNotFound",
    "OfferNotPending",
    "OfferRow",
    "QueueView",
    "Scheduler",
    "SchedulerConfig",
    "StoredEvent",
    "TransferRefused",
]
