"""When a reply may be sent on a channel, and in what form (pure; `now` is a parameter).

- WhatsApp (Cloud API and via Twilio): free-form only within 24 hours of the customer's
  last inbound WhatsApp message; after that only a template.
  https://developers.facebook.com/docs/whatsapp/pricing#customer-service-windows
- Messenger and Instagram: within 24 hours `messaging_type: RESPONSE`; from 24 hours to
  7 days `MESSAGE_TAG` with `HUMAN_AGENT`; later, refused.
  https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags
- SMS, email, Telegram, chat: no window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DAY = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowVerdict:
    is_allowed: bool
    rule: str  # which rule applied, for the problem document
    detail: str
    messaging_type: str | None = None
    tag: str | None = None


def check(
    channel: str,
    *,
    last_inbound_at: datetime | None,
    now: datetime,
    has_template: bool,
) -> WindowVerdict:
    """Whether a reply on `channel` may go now; `last_inbound_at` on that channel."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    since = now - last_inbound_at if last_inbound_at is not None else None
    if channel == "whatsapp":
        return _whatsapp(since, has_template)
    if channel in ("messenger", "instagram"):
        return _messenger(since)
    return WindowVerdict(
        is_allowed=True, rule="none", detail=f"{channel} has no window"
    )


def _whatsapp(since: timedelta | None, has_template: bool) -> WindowVerdict:
    inside = since is not None and since < DAY
    if inside or has_template:
        form = "free-form or template" if inside else "template"
        return WindowVerdict(
            is_allowed=True, rule="whatsapp-24h", detail=f"{form} allowed"
        )
    return WindowVerdict(
        is_allowed=False,
        rule="whatsapp-24h",
        detail="the customer's last WhatsApp message is more than 24 hours old (or"
        " there is none): only a template may be sent; give `template`",
    )


def _messenger(since: timedelta | None) -> WindowVerdict:
    if since is not None and since < DAY:
        return WindowVerdict(
            is_allowed=True,
            rule="messenger-24h",
            detail="within 24 hours: a RESPONSE",
            messaging_type="RESPONSE",
        )
    if since is not None and since < HUMAN_AGENT_WINDOW:
        return WindowVerdict(
            is_allowed=True,
            rule="messenger-human-agent-7d",
            detail="24 hours to 7 days: MESSAGE_TAG with HUMAN_AGENT",
            messaging_type="MESSAGE_TAG",
            tag="HUMAN_AGENT",
        )
    return WindowVerdict(
        is_allowed=False,
        rule="messenger-human-agent-7d",
        detail="the customer's last message is more than 7 days old (or there is"
        " none): Messenger and Instagram allow no reply now",
    )
