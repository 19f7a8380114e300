"""Configuration: one typed class, built once at start-up from OMNIROUTE_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from connectors.email_text import MAX_PARTS
from connectors.model import FormLimits

DEFAULT_RULES_FILE = (
    Path(__file__).resolve().parent.parent / "routing" / "rules.example.yaml"
)
DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OMNIROUTE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str
    api_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    public_base_url: str = "http://127.0.0.1:8000"
    twilio_auth_token: SecretStr | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    mailgun_signing_key: SecretStr | None = None
    email_webhook_secret: SecretStr | None = None
    chat_webhook_secret: SecretStr | None = None
    telegram_secret_token: SecretStr | None = None  # setWebhook's secret_token
    default_phone_region: str = "US"
    conversation_idle_hours: PositiveInt = 24
    max_body_bytes: PositiveInt = 10 * 1024 * 1024
    max_header_bytes: PositiveInt = 32 * 1024  # request line + headers (431 beyond)
    max_headers: PositiveInt = 100
    header_timeout_seconds: PositiveFloat = 10.0  # slowloris: time to send the head
    # Read before a webhook's signature is checked (401 beyond; README "Limits").
    # At most MAX_PARTS: replay_key and parse never allow more.
    max_form_fields: Annotated[int, Field(ge=1, le=MAX_PARTS)] = 200
    max_form_bytes: PositiveInt = 64 * 1024  # Twilio forms (signed field by field)
    # Parsing off the event loop: MIME bodies, and any body over parse_inline_bytes.
    parse_inline_bytes: NonNegativeInt = 64 * 1024
    parse_workers: PositiveInt = 2
    parse_queue: PositiveInt = 16  # parses waiting or running; 503 beyond
    parse_timeout_seconds: PositiveFloat = 2.0  # per parse once started; 422 beyond
    attachment_dir: Path = Path("var/attachments")
    db_pool_size: PositiveInt = 10
    log_format: str = "console"  # "json" in production
    kafka_bootstrap_servers: str | None = None  # unset: no relay (serve requires it)
    kafka_routing_topic: str = "omniroute.routing.decisions"
    kafka_customer_topic: str = "omniroute.customers"
    routing_rules_file: Path = DEFAULT_RULES_FILE
    languages: Annotated[tuple[str, ...], NoDecode] = DEFAULT_LANGUAGES
    outbox_retention_hours: PositiveInt = 24
    relay_batch_size: PositiveInt = 500
    # Outbound replies: provider endpoints, credentials and sender ids (README).
    twilio_account_sid: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    twilio_content_sids: dict[str, str] = {}  # template name -> Content SID
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    meta_page_access_token: SecretStr | None = None
    meta_page_id: str | None = None
    instagram_account_id: str | None = None
    graph_api_base: str = "https://graph.facebook.com"
    graph_api_version: str = "v21.0"
    email_outbound: Literal["mailgun", "smtp"] = "mailgun"
    email_from: str | None = None  # when the customer's original recipient is unknown
    mailgun_api_key: SecretStr | None = None
    mailgun_domain: str | None = None
    mailgun_api_base: str = "https://api.mailgun.net"
    smtp_host: str | None = None
    smtp_port: PositiveInt = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    chat_delivery_url: str | None = None
    dispatch_enabled: bool = True  # false: this replica does not send replies
    send_max_attempts: PositiveInt = 5
    send_timeout_seconds: PositiveFloat = 10.0
    send_concurrency: PositiveInt = 16  # requests in flight per provider
    # OMNIROUTE_SEND_RATE_<PROVIDER>: messages per second per sender (0: unlimited)
    send_rate_twilio: NonNegativeFloat = 0
    send_rate_whatsapp: NonNegativeFloat = 0
    send_rate_messenger: NonNegativeFloat = 0
    send_rate_instagram: NonNegativeFloat = 0
    send_rate_mailgun: NonNegativeFloat = 0
    send_rate_smtp: NonNegativeFloat = 0
    send_rate_telegram: NonNegativeFloat = 0
    send_rate_chat: NonNegativeFloat = 0
    kafka_message_topic: str = "omniroute.messages"
    kafka_assignment_topic: str = "omniroute.assignments"
    kafka_agent_topic: str = "omniroute.agents"
    kafka_sla_topic: str = "omniroute.sla"
    kafka_csat_topic: str = "omniroute.csat"
    fcr_window_days: int = Field(default=7, ge=0, le=365)
    # Assignment: false means this replica never runs the scheduler (offers, timers).
    assignment_enabled: bool = True
    offline_grace_seconds: float = Field(default=120, ge=0)
    sse_heartbeat_seconds: float = Field(default=15, gt=0)

    @field_validator("database_url")
    @classmethod
    def _is_postgres(cls, value: str) -> str:
        if make_url(value).get_backend_name() not in {"postgres", "postgresql"}:
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("api_tokens", "languages", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(token.strip() for token in value.split(",") if token.strip())
        return value

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("default_phone_region")
    @classmethod
    def _region_upper(cls, value: str) -> str:
        return value.upper()

    def async_database_url(self) -> URL:
        """The URL object for asyncpg; pass it, not str(url), which masks the password."""
        return make_url(self.database_url).set(drivername="postgresql+asyncpg")

    def form_limits(self) -> FormLimits:
        """What a connector's verify reads of a form before the signature is checked."""
        return FormLimits(
            max_fields=self.max_form_fields, max_bytes=self.max_form_bytes
        )

    def secret(self, name: str) -> str | None:
        """The plain value of a connector's secret setting, or None when unset."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else None
