"""Twilio sender: exact Messages requests, and every class of answer."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from outbound import twilio
from outbound.model import (
    Delivery,
    HttpCall,
    MediaLink,
    SendOutcome,
    SendRefused,
    Template,
    Verdict,
)
from tests.outbound.samples import sample

SID = "AC" + "0" * 32
URL = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
AUTH = (SID, "twilio-token")
CONFIG = twilio.Config(
    account_sid=SID,
    auth_token="twilio-token",
    status_callback_url="https://omniroute.example.com/webhooks/twilio/status",
    content_sids={"order_update": "HX" + "1" * 32, "order_update:de": "HX" + "2" * 32},
)
CALLBACK = ("StatusCallback", "https://omniroute.example.com/webhooks/twilio/status")
SMS = Delivery(
    message_id="msg-1",
    provider="twilio",
    channel="sms",
    to="+14155550100",
    sender="+14155550199",
    text="Your order shipped.",
)
WHATSAPP = replace(SMS, channel="whatsapp")
PHOTO = MediaLink(url="https://files.example.com/a.jpg", content_type="image/jpeg")
PDF = MediaLink(url="https://files.example.com/b.pdf", filename="b.pdf")


def call(*form: tuple[str, str]) -> HttpCall:
    return HttpCall(method="POST", url=URL, form=form, auth=AUTH)


SMS_HEAD = (("To", "+14155550100"), ("From", "+14155550199"), CALLBACK)
WA_HEAD = (
    ("To", "whatsapp:+14155550100"),
    ("From", "whatsapp:+14155550199"),
    CALLBACK,
)


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        pytest.param(SMS, (call(*SMS_HEAD, ("Body", SMS.text)),), id="sms-text"),
        pytest.param(
            WHATSAPP, (call(*WA_HEAD, ("Body", SMS.text)),), id="whatsapp-prefixed"
        ),
        pytest.param(
            replace(WHATSAPP, to="whatsapp:+14155550100"),
            (call(*WA_HEAD, ("Body", SMS.text)),),
            id="whatsapp-prefix-not-doubled",
        ),
        pytest.param(
            replace(SMS, attachments=(PHOTO, PDF)),
            (
                call(
                    *SMS_HEAD,
                    ("Body", SMS.text),
                    ("MediaUrl", PHOTO.url),
                    ("MediaUrl", PDF.url),
                ),
            ),
            id="mms-media-repeated",
        ),
        pytest.param(
            replace(SMS, text="", attachments=(PHOTO,)),
            (call(*SMS_HEAD, ("MediaUrl", PHOTO.url)),),
            id="mms-media-only",
        ),
        pytest.param(
            replace(WHATSAPP, attachments=(PHOTO, PDF)),
            (
                call(*WA_HEAD, ("Body", SMS.text), ("MediaUrl", PHOTO.url)),
                call(*WA_HEAD, ("MediaUrl", PDF.url)),
            ),
            id="whatsapp-one-media-per-message",
        ),
        pytest.param(
            replace(WHATSAPP, template=Template(name="order_update", language="en")),
            (call(*WA_HEAD, ("ContentSid", "HX" + "1" * 32)),),
            id="template-without-variables",
        ),
        pytest.param(
            replace(
                WHATSAPP,
                template=Template(
                    name="order_update", language="de", variables=("Ada", "12 €")
                ),
            ),
            (
                call(
                    *WA_HEAD,
                    ("ContentSid", "HX" + "2" * 32),
                    ("ContentVariables", '{"1": "Ada", "2": "12 €"}'),
                ),
            ),
            id="template-language-specific-sid-and-variables",
        ),
    ],
)
def test_build(delivery: Delivery, expected: tuple[HttpCall, ...]) -> None:
    assert twilio.build(delivery, CONFIG) == expected


def test_build_content_variables_are_a_json_object_numbered_from_1() -> None:
    template = Template(name="order_update", language="en", variables=("a", "b", "c"))
    (built,) = twilio.build(replace(WHATSAPP, template=template), CONFIG)
    form = dict(built.form or ())
    assert json.loads(form["ContentVariables"]) == {"1": "a", "2": "b", "3": "c"}
    assert "Body" not in form


def test_build_without_callback_or_sender_uses_default_from() -> None:
    config = twilio.Config(account_sid=SID, auth_token="t", default_from="+14155550111")
    (built,) = twilio.build(replace(SMS, sender=None), config)
    assert built.form == (
        ("To", "+14155550100"),
        ("From", "+14155550111"),
        ("Body", SMS.text),
    )


def test_build_counts_emoji_as_two_towards_1600() -> None:
    calls = twilio.build(replace(SMS, text="😀" * 801), CONFIG)
    assert [len(dict(c.form or ())["Body"]) for c in calls] == [800, 1]


def test_build_long_text_goes_as_several_messages_of_at_most_1600() -> None:
    text = ("word " * 500).strip()  # 2,499 characters
    calls = twilio.build(replace(SMS, text=text, attachments=(PHOTO,)), CONFIG)
    bodies = [dict(c.form or ())["Body"] for c in calls]
    assert len(calls) == 2
    assert all(len(body) <= 1600 for body in bodies)
    assert " ".join(bodies) == text
    assert [dict(c.form or ()).get("MediaUrl") for c in calls] == [None, PHOTO.url]


@pytest.mark.parametrize(
    ("delivery", "config", "reason"),
    [
        pytest.param(
            replace(WHATSAPP, template=Template(name="missing", language="en")),
            CONFIG,
            "no Twilio Content SID for template 'missing' (en)",
            id="unmapped-template",
        ),
        pytest.param(
            replace(SMS, template=Template(name="order_update", language="en")),
            CONFIG,
            "templates go on WhatsApp only; SMS takes the text",
            id="template-on-sms",
        ),
        pytest.param(
            replace(
                WHATSAPP,
                template=Template(name="order_update", language="en"),
                attachments=(PHOTO,),
            ),
            CONFIG,
            "a template message carries no further attachments",
            id="template-with-attachment",
        ),
        pytest.param(
            replace(SMS, sender=None),
            CONFIG,
            "no Twilio number to send from (delivery.sender or default_from)",
            id="no-sender",
        ),
        pytest.param(
            replace(SMS, text="  "),
            CONFIG,
            "nothing to send: no text, template or attachment",
            id="nothing",
        ),
        pytest.param(
            replace(SMS, attachments=(PHOTO,) * 11),
            CONFIG,
            "Twilio takes at most 10 attachments on sms",
            id="eleven-media",
        ),
    ],
)
def test_build_refuses(delivery: Delivery, config: twilio.Config, reason: str) -> None:
    with pytest.raises(SendRefused) as caught:
        twilio.build(delivery, config)
    assert caught.value.reason == reason


def test_config_repr_hides_the_token() -> None:
    assert "twilio-token" not in repr(CONFIG)


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(
            201,
            {},
            sample("twilio", "message_created.json"),
            SendOutcome(
                verdict=Verdict.sent,
                provider_message_ids=("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",),
            ),
            id="201-created",
        ),
        pytest.param(
            400,
            {},
            sample("twilio", "error_21211.json"),
            SendOutcome(
                verdict=Verdict.failed,
                error_code="21211",
                error_message="The 'To' number +1555 is not a valid phone number.",
            ),
            id="400-invalid-to",
        ),
        pytest.param(
            401,
            {},
            sample("twilio", "error_20003.json"),
            SendOutcome(
                verdict=Verdict.failed, error_code="20003", error_message="Authenticate"
            ),
            id="401-authenticate",
        ),
        pytest.param(
            429,
            {"Retry-After": "5"},
            sample("twilio", "error_20429.json"),
            SendOutcome(
                verdict=Verdict.retry,
                error_code="20429",
                error_message="Too Many Requests",
                retry_after_seconds=5.0,
            ),
            id="429-retry-after",
        ),
        pytest.param(
            503,
            {},
            b"",
            SendOutcome(
                verdict=Verdict.retry,
                error_code="503",
                error_message="503 Service Unavailable",
            ),
            id="503-empty",
        ),
        pytest.param(
            500,
            {},
            b"oops",
            SendOutcome(
                verdict=Verdict.unknown, error_code="500", error_message="oops"
            ),
            id="500",
        ),
        pytest.param(
            502,
            {},
            b"<html>Bad Gateway</html>",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="502",
                error_message="<html>Bad Gateway</html>",
            ),
            id="502-html",
        ),
        pytest.param(
            504,
            {},
            b"",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="504",
                error_message="504 Gateway Timeout",
            ),
            id="504",
        ),
        pytest.param(
            201,
            {},
            b'{"status": "queued"}',
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="201",
                error_message='201 answer without a readable message id: {"status": "queued"}',
            ),
            id="201-without-sid",
        ),
        pytest.param(
            201,
            {},
            b"",
            SendOutcome(
                verdict=Verdict.unknown,
                error_code="201",
                error_message="201 answer without a readable message id (empty body)",
            ),
            id="201-empty",
        ),
    ],
)
def test_interpret(
    status: int, headers: dict[str, str], body: bytes, expected: SendOutcome
) -> None:
    assert twilio.interpret(status, headers, body) == expected
