"""The senders the service runs: each provider's Config from Settings, its requests made
with one shared httpx client (SMTP with aiosmtplib), the outcome read by outbound/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiosmtplib
import httpx

from app.dispatch.transport import execute, finish
from app.settings import Settings
from outbound import chat, mailgun, messenger, registry, telegram, twilio, whatsapp
from outbound.email_message import build_reply
from outbound.model import Delivery, SendOutcome, Verdict

Send = Callable[[Delivery], Awaitable[SendOutcome]]


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else str(value or "")


def configs(settings: Settings) -> dict[str, object]:
    """Each HTTP provider's Config; only for providers whose settings are all set."""
    s = settings
    graph = {"graph_base": s.graph_api_base, "version": s.graph_api_version}
    found: dict[str, object] = {}
    if s.twilio_account_sid and s.twilio_auth_token:
        found["twilio"] = twilio.Config(
            account_sid=s.twilio_account_sid,
            auth_token=_secret(s.twilio_auth_token),
            api_base=s.twilio_api_base,
            status_callback_url=f"{s.public_base_url}/webhooks/twilio/status",
            content_sids=dict(s.twilio_content_sids),
        )
    if s.whatsapp_access_token and s.whatsapp_phone_number_id:
        found["whatsapp"] = whatsapp.Config(
            phone_number_id=s.whatsapp_phone_number_id,
            access_token=_secret(s.whatsapp_access_token),
            **graph,
        )
    for name, account in (
        ("messenger", s.meta_page_id),
        ("instagram", s.instagram_account_id),
    ):
        if s.meta_page_access_token and account:
            found[name] = messenger.Config(
                account_id=account,
                access_token=_secret(s.meta_page_access_token),
                **graph,
            )
    if s.mailgun_api_key and s.mailgun_domain:
        found["mailgun"] = mailgun.Config(
            domain=s.mailgun_domain,
            api_key=_secret(s.mailgun_api_key),
            api_base=s.mailgun_api_base,
            default_from=s.email_from,
        )
    if s.telegram_bot_token:
        found["telegram"] = telegram.Config(
            token=_secret(s.telegram_bot_token), api_base=s.telegram_api_base
        )
    if s.chat_delivery_url and s.chat_webhook_secret:
        found["chat"] = chat.Config(
            delivery_url=s.chat_delivery_url, secret=_secret(s.chat_webhook_secret)
        )
    return found


def http_sender(client: httpx.AsyncClient, config: object) -> Send:
    """Calls in order (a split text, then attachments); stops at the first not sent."""

    async def send(delivery: Delivery) -> SendOutcome:
        outcomes: list[SendOutcome] = []
        for call in registry.build(delivery, config):
            outcome = await execute(
                client,
                call,
                lambda status, headers, body: registry.interpret(
                    delivery, status, headers, body
                ),
            )
            outcomes.append(outcome)
            if outcome.verdict is not Verdict.sent:
                break
        return finish(outcomes)

    return send


def smtp_sender(settings: Settings) -> Send:
    """The reply as a stdlib EmailMessage over SMTP (for mail servers piping to us)."""
    domain = (settings.email_from or "omniroute.invalid").rpartition("@")[2]

    async def send(delivery: Delivery) -> SendOutcome:
        message = build_reply(
            delivery, settings.email_from or "", domain, date=datetime.now(UTC)
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=_secret(settings.smtp_password) or None,
                start_tls=settings.smtp_starttls,
                timeout=settings.send_timeout_seconds,
            )
        except aiosmtplib.SMTPConnectError as error:
            return SendOutcome(
                verdict=Verdict.retry, error_code="connect", error_message=str(error)
            )
        except aiosmtplib.SMTPResponseException as error:
            # 4xx: try again later; 5xx: refused for good (RFC 5321 section 4.2.1).
            verdict = Verdict.retry if 400 <= error.code < 500 else Verdict.failed
            return SendOutcome(
                verdict=verdict, error_code=str(error.code), error_message=error.message
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            return SendOutcome(
                verdict=Verdict.unknown,
                error_code="no_answer",
                error_message=f"{type(error).__name__}: {error}",
            )
        return SendOutcome(
            verdict=Verdict.sent,
            provider_message_ids=(str(message["Message-ID"]).strip("<>"),),
        )

    return send


def make_senders(settings: Settings, client: httpx.AsyncClient) -> dict[str, Send]:
    senders = {name: http_sender(client, c) for name, c in configs(settings).items()}
    if settings.smtp_host:
        senders["smtp"] = smtp_sender(settings)
    return senders
