"""decide(): one pure function from facts and a RuleSet to a routing Decision."""

from __future__ import annotations

from datetime import datetime

from routing.model import (
    ConversationState,
    CustomerFacts,
    Decision,
    Facts,
    MessageFacts,
    Priority,
    Rule,
    RuleSet,
)


def decide(
    message: MessageFacts,
    customer: CustomerFacts,
    conversation: ConversationState | None,
    rules: RuleSet,
    now: datetime,
) -> Decision:
    """First matching rule wins; a follow-up keeps its queue unless the rule escalates."""
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    is_new = conversation is None or not conversation.is_open
    facts = Facts(
        message=message, customer=customer, is_new_conversation=is_new, now=now
    )
    rule = next((rule for rule in rules.rules if rule.matches(facts)), None)
    if conversation is None or not conversation.is_open:
        return _opening(rule, rules, message)
    return _follow_up(conversation, rule, rules, message)


def _opening(rule: Rule | None, rules: RuleSet, message: MessageFacts) -> Decision:
    """A new (or reopened) conversation takes the matched action, or the default."""
    action = rule.then if rule else rules.default
    reason = _matched(rule) if rule else "no rule matched; default action"
    return Decision(
        queue=action.queue,
        priority=action.priority,
        skills=action.skills,
        tags=_union((), action.tags),
        rule_id=rule.id if rule else None,
        matched_conditions=_names(rule),
        rules_version=rules.version,
        new_conversation=True,
        changed=True,
        escalated=False,
        previous_queue=None,
        previous_priority=None,
        language=message.language,
        reason=reason,
    )


def _follow_up(
    conversation: ConversationState,
    rule: Rule | None,
    rules: RuleSet,
    message: MessageFacts,
) -> Decision:
    """Priority only rises; queue and skills move only when the matched rule escalates."""
    queue, priority, skills = (
        conversation.queue,
        conversation.priority,
        conversation.skills,
    )
    if rule is not None:
        priority = priority.raised_to(rule.then.priority)
        if rule.then.escalate:
            queue, skills = rule.then.queue, rule.then.skills
    return Decision(
        queue=queue,
        priority=priority,
        skills=skills,
        tags=_union(conversation.tags, rule.then.tags if rule else ()),
        rule_id=rule.id if rule else None,
        matched_conditions=_names(rule),
        rules_version=rules.version,
        new_conversation=False,
        changed=(queue, priority) != (conversation.queue, conversation.priority),
        escalated=bool(rule and rule.then.escalate),
        previous_queue=conversation.queue,
        previous_priority=conversation.priority,
        language=message.language,
        reason=_follow_up_reason(conversation, rule, priority),
    )


def _follow_up_reason(
    conversation: ConversationState, rule: Rule | None, priority: Priority
) -> str:
    kept = f"queue {conversation.queue} and priority {conversation.priority}"
    if rule is None:  # the default action is for opening messages only
        return f"follow-up keeps {kept}; no rule matched"
    if rule.then.escalate:
        moved = f"queue {conversation.queue} -> {rule.then.queue}, priority {priority}"
        return f"{_matched(rule)} and escalates: {moved}"
    if priority != conversation.priority:
        raised = f"priority raised to {priority} by rule {rule.id}"
        return f"follow-up keeps queue {conversation.queue}; {raised}"
    return f"follow-up keeps {kept}; {_matched(rule)}"


def _matched(rule: Rule) -> str:
    names = ", ".join(_names(rule))
    return (
        f"rule {rule.id} matched {names}"
        if names
        else f"rule {rule.id} matched (no conditions)"
    )


def _names(rule: Rule | None) -> tuple[str, ...]:
    return tuple(condition.name for condition in rule.conditions) if rule else ()


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    """Both tag lists in order, without repeats."""
    return tuple(dict.fromkeys((*first, *second)))
