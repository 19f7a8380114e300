"""The one table of HTTP senders, and which provider answers on which channel.

Adding a provider touches its module and one line of `SENDERS`. SMTP is not here:
it is no HTTP request; `outbound.email_message.build_reply` builds its message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from outbound import chat, mailgun, messenger, telegram, twilio, whatsapp
from outbound.model import Delivery, HttpCall, SendOutcome, SendRefused

__all__ = [
    "EMAIL_OUTBOUND",
    "SENDERS",
    "SMTP",
    "Sender",
    "build",
    "interpret",
    "provider_for",
    "sender_for",
]

C = TypeVar("C")
SMTP: Final = "smtp"
EMAIL_OUTBOUND: Final = frozenset({mailgun.PROVIDER, SMTP})


@dataclass(frozen=True, slots=True)
class Sender(Generic[C]):
    name: str  # Delivery.provider; used in logs, metrics and problem documents
    config_type: type[C]  # the module's Config
    build: Callable[[Delivery, C], tuple[HttpCall, ...]]  # may raise SendRefused
    interpret: Callable[[int, Mapping[str, str], bytes], SendOutcome]


_ALL: Final[tuple[Sender[Any], ...]] = (
    Sender(twilio.PROVIDER, twilio.Config, twilio.build, twilio.interpret),
    Sender(whatsapp.PROVIDER, whatsapp.Config, whatsapp.build, whatsapp.interpret),
    # Messenger and Instagram share the Send API, each with its own Config (the
    # Page id and token, or the Instagram account id and token).
    *(
        Sender(name, messenger.Config, messenger.build, messenger.interpret)
        for name in messenger.PROVIDERS
    ),
    Sender(mailgun.PROVIDER, mailgun.Config, mailgun.build, mailgun.interpret),
    Sender(telegram.PROVIDER, telegram.Config, telegram.build, telegram.interpret),
    Sender(chat.PROVIDER, chat.Config, chat.build, chat.interpret),
)
SENDERS: Final[Mapping[str, Sender[Any]]] = MappingProxyType(
    {sender.name: sender for sender in _ALL}
)

# Inbound connector names whose WhatsApp customers are answered through Twilio;
# any other (the Cloud API webhook, "meta") is answered through the Cloud API.
_TWILIO_WHATSAPP: Final = frozenset({twilio.PROVIDER})
_BY_CHANNEL: Final = MappingProxyType(
    {
        "sms": twilio.PROVIDER,
        "messenger": "messenger",
        "instagram": "instagram",
        "telegram": telegram.PROVIDER,
        "chat": chat.PROVIDER,
    }
)


def provider_for(
    channel: str,
    *,
    inbound_provider: str | None = None,
    email_outbound: str = "mailgun",
) -> str:
    """The provider that answers a customer on `channel` (a `Delivery.provider`).

    `inbound_provider` is the connector the customer's last message came through:
    WhatsApp that came via Twilio is answered via Twilio, else via the Cloud API.
    `email_outbound` (`mailgun` or `smtp`) is the configured way email leaves.
    """
    if channel == "whatsapp":
        return (
            twilio.PROVIDER
            if inbound_provider in _TWILIO_WHATSAPP
            else whatsapp.PROVIDER
        )
    if channel == "email":
        if email_outbound not in EMAIL_OUTBOUND:
            raise ValueError(f"email_outbound must be one of {sorted(EMAIL_OUTBOUND)}")
        return email_outbound
    provider = _BY_CHANNEL.get(channel)
    if provider is None:
        raise SendRefused(f"no sender answers on channel {channel!r}")
    return provider


def sender_for(provider: str) -> Sender[Any]:
    """The sender registered as `provider`; LookupError for SMTP or an unknown name."""
    sender = SENDERS.get(provider)
    if sender is None:
        hint = " (SMTP: use email_message.build_reply)" if provider == SMTP else ""
        raise LookupError(f"no HTTP sender named {provider!r}{hint}")
    return sender


def build(delivery: Delivery, config: object) -> tuple[HttpCall, ...]:
    """The requests for `delivery` by its provider; `config` is that provider's Config."""
    sender = sender_for(delivery.provider)
    if not isinstance(config, sender.config_type):
        raise TypeError(
            f"{delivery.provider} needs a {sender.config_type.__module__}.Config,"
            f" not {type(config).__name__}"
        )
    return sender.build(delivery, config)


def interpret(
    delivery: Delivery, status: int, headers: Mapping[str, str], body: bytes
) -> SendOutcome:
    """The outcome of one answer to a request built for `delivery`."""
    if delivery.provider == chat.PROVIDER:  # the widget knows the message by our id
        return chat.interpret(status, headers, body, message_id=delivery.message_id)
    return sender_for(delivery.provider).interpret(status, headers, body)
