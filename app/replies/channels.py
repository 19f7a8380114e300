"""Which provider sends on a channel, and which settings it needs (503 until set)."""

from __future__ import annotations

from app.settings import Settings

# The identity kind that addresses a customer on each channel.
IDENTITY_KIND = {
    "sms": "phone",
    "whatsapp": "phone",
    "email": "email",
    "messenger": "messenger",
    "instagram": "instagram",
    "chat": "chat",
    "telegram": "telegram",
}
_REQUIRED = {
    "twilio": ("twilio_account_sid", "twilio_auth_token"),
    "whatsapp": ("whatsapp_access_token", "whatsapp_phone_number_id"),
    "messenger": ("meta_page_access_token", "meta_page_id"),
    "instagram": ("meta_page_access_token", "instagram_account_id"),
    "mailgun": ("mailgun_api_key", "mailgun_domain"),
    "smtp": ("smtp_host",),
    "telegram": ("telegram_bot_token",),
    "chat": ("chat_delivery_url", "chat_webhook_secret"),
}


def missing_settings(provider: str, settings: Settings) -> list[str]:
    """The OMNIROUTE_* variables that sending through `provider` still needs."""
    return [
        f"OMNIROUTE_{name.upper()}"
        for name in _REQUIRED[provider]
        if getattr(settings, name) in (None, "")
    ]
