"""Pure routing: rules file in, Decision out. No I/O; `now` is always a parameter.

`routing.language` (the language detector) is imported on its own: it loads a model.
"""

from routing.engine import decide
from routing.model import (
    Action,
    AssignmentPolicy,
    BusinessHours,
    Condition,
    ConversationState,
    CustomerFacts,
    Decision,
    ExpansionStep,
    Facts,
    MessageFacts,
    Priority,
    QueuePolicy,
    Rule,
    RuleSet,
)
from routing.rules import RulesError, load_rules

__all__ = [
    "Action",
    "AssignmentPolicy",
    "BusinessHours",
    "Condition",
    "ConversationState",
    "CustomerFacts",
    "Decision",
    "ExpansionStep",
    "Facts",
    "MessageFacts",
    "Priority",
    "QueuePolicy",
    "Rule",
    "RuleSet",
    "RulesError",
    "decide",
    "load_rules",
]
