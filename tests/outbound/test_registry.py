"""The sender table and which provider answers on which channel."""

from __future__ import annotations

from types import ModuleType

import pytest

from outbound import chat, mailgun, messenger, registry, telegram, twilio, whatsapp
from outbound.model import Delivery, SendOutcome, SendRefused, Verdict


@pytest.mark.parametrize(
    ("channel", "inbound", "email_outbound", "expected"),
    [
        pytest.param("sms", None, "mailgun", "twilio", id="sms"),
        pytest.param(
            "whatsapp", "twilio", "mailgun", "twilio", id="whatsapp-via-twilio"
        ),
        pytest.param(
            "whatsapp", "meta", "mailgun", "whatsapp", id="whatsapp-cloud-api"
        ),
        pytest.param("whatsapp", None, "mailgun", "whatsapp", id="whatsapp-default"),
        pytest.param("messenger", "meta", "mailgun", "messenger", id="messenger"),
        pytest.param("instagram", "meta", "mailgun", "instagram", id="instagram"),
        pytest.param("email", "mailgun", "mailgun", "mailgun", id="email-mailgun"),
        pytest.param("email", "mime", "smtp", "smtp", id="email-smtp"),
        pytest.param("telegram", None, "mailgun", "telegram", id="telegram"),
        pytest.param("chat", "chat", "mailgun", "chat", id="chat"),
    ],
)
def test_provider_for(
    channel: str, inbound: str | None, email_outbound: str, expected: str
) -> None:
    assert (
        registry.provider_for(
            channel, inbound_provider=inbound, email_outbound=email_outbound
        )
        == expected
    )


def test_provider_for_refuses_an_unknown_channel() -> None:
    with pytest.raises(SendRefused, match="no sender answers on channel 'fax'"):
        registry.provider_for("fax")


def test_provider_for_refuses_an_unknown_email_outbound() -> None:
    with pytest.raises(ValueError, match="email_outbound"):
        registry.provider_for("email", email_outbound="sendgrid")


def test_every_provider_for_an_http_channel_is_registered() -> None:
    channels = (
        "sms",
        "whatsapp",
        "messenger",
        "instagram",
        "email",
        "telegram",
        "chat",
    )
    for channel in channels:
        for inbound in (None, "twilio"):
            provider = registry.provider_for(channel, inbound_provider=inbound)
            assert registry.sender_for(provider).name == provider


@pytest.mark.parametrize(
    ("name", "module"),
    [
        pytest.param("twilio", twilio, id="twilio"),
        pytest.param("whatsapp", whatsapp, id="whatsapp"),
        pytest.param("messenger", messenger, id="messenger"),
        pytest.param("instagram", messenger, id="instagram"),
        pytest.param("mailgun", mailgun, id="mailgun"),
        pytest.param("telegram", telegram, id="telegram"),
        pytest.param("chat", chat, id="chat"),
    ],
)
def test_senders_table(name: str, module: ModuleType) -> None:
    sender = registry.SENDERS[name]
    assert (sender.config_type, sender.build, sender.interpret) == (
        module.Config,
        module.build,
        module.interpret,
    )


def test_sender_for_smtp_points_to_email_message() -> None:
    with pytest.raises(LookupError, match=r"email_message\.build_reply"):
        registry.sender_for("smtp")


TELEGRAM = Delivery(
    message_id="msg-1", provider="telegram", channel="telegram", to="42", text="hi"
)


def test_build_dispatches_by_provider_and_checks_the_config() -> None:
    config = telegram.Config(token="t")
    assert registry.build(TELEGRAM, config) == telegram.build(TELEGRAM, config)
    with pytest.raises(TypeError, match=r"telegram needs a outbound.telegram.Config"):
        registry.build(TELEGRAM, chat.Config(delivery_url="u", secret="s"))


def test_interpret_gives_chat_our_message_id() -> None:
    delivery = Delivery(
        message_id="msg-9", provider="chat", channel="chat", to="vis_1", text="hi"
    )
    assert registry.interpret(delivery, 204, {}, b"") == SendOutcome(
        verdict=Verdict.sent, provider_message_ids=("msg-9",)
    )


def test_interpret_dispatches_by_provider() -> None:
    body = b'{"ok": true, "result": {"message_id": 7, "chat": {"id": 42}}}'
    assert registry.interpret(TELEGRAM, 200, {}, body) == SendOutcome(
        verdict=Verdict.sent, provider_message_ids=("42:7",)
    )
