"""connectors.twilio_status: Twilio status callbacks, signed like inbound webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from connectors import twilio, twilio_status
from connectors.model import (
    DeliveryStatus,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    StatusUpdate,
    WebhookRequest,
)

DATA = Path(__file__).parent.parent / "data" / "twilio_status"
SMS = "SM6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
WA = "SM0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"
URL = "https://omniroute.example.com/webhooks/twilio/status"
TOKEN = "twilio-test-auth-token"


def sample(name: str) -> bytes:
    return (DATA / f"{name}.form").read_bytes()


def update(sid: str, status: DeliveryStatus, **fields: str) -> StatusUpdate:
    return StatusUpdate(
        provider="twilio", provider_message_id=sid, status=status, **fields
    )


def form(**params: str) -> bytes:
    return urlencode({"MessageSid": SMS, "MessageStatus": "sent"} | params).encode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("sms-sent", update(SMS, DeliveryStatus.sent), id="sent"),
        pytest.param(
            "sms-delivered", update(SMS, DeliveryStatus.delivered), id="delivered"
        ),
        pytest.param(
            "sms-undelivered",
            update(SMS, DeliveryStatus.failed, error_code="30003", error="undelivered"),
            id="undelivered-is-failed-with-its-code",
        ),
        pytest.param(
            "whatsapp-read", update(WA, DeliveryStatus.read), id="whatsapp-read"
        ),
    ],
)
def test_samples(name: str, expected: StatusUpdate) -> None:
    assert twilio_status.parse(sample(name), {}) == Parsed(statuses=(expected,))


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param("accepted", DeliveryStatus.sent, id="accepted"),
        pytest.param("scheduled", DeliveryStatus.sent, id="scheduled"),
        pytest.param("queued", DeliveryStatus.sent, id="queued"),
        pytest.param("sending", DeliveryStatus.sent, id="sending"),
        pytest.param("sent", DeliveryStatus.sent, id="sent"),
        pytest.param("delivered", DeliveryStatus.delivered, id="delivered"),
        pytest.param("read", DeliveryStatus.read, id="read"),
        pytest.param("undelivered", DeliveryStatus.failed, id="undelivered"),
        pytest.param("failed", DeliveryStatus.failed, id="failed"),
        pytest.param("canceled", DeliveryStatus.failed, id="canceled"),
    ],
)
def test_every_outbound_status_maps(raw: str, status: DeliveryStatus) -> None:
    [got] = twilio_status.parse(form(MessageStatus=raw), {}).statuses
    assert got.status is status


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("receiving", id="inbound-receiving"),
        pytest.param("received", id="inbound-received"),
        pytest.param("partially_delivered", id="unknown-to-us"),
    ],
)
def test_statuses_that_say_nothing_about_a_send_are_acknowledged(raw: str) -> None:
    assert twilio_status.parse(form(MessageStatus=raw), {}) == Parsed()


def test_legacy_names_are_read_when_the_new_ones_are_missing() -> None:
    body = urlencode({"SmsSid": SMS, "SmsStatus": "delivered"}).encode()

    [got] = twilio_status.parse(body, {}).statuses

    assert got == update(SMS, DeliveryStatus.delivered)


def test_an_error_code_is_kept_only_on_failures() -> None:
    [delivered] = twilio_status.parse(
        form(MessageStatus="delivered", ErrorCode="30003"), {}
    ).statuses
    [failed] = twilio_status.parse(
        form(MessageStatus="failed", ErrorCode="30007"), {}
    ).statuses

    assert (delivered.error_code, delivered.error) == (None, None)
    assert (failed.error_code, failed.error) == ("30007", "failed")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b"MessageStatus=sent", "MessageSid", id="no-sid"),
        pytest.param(form(MessageSid="SM123"), "MessageSid", id="sid-not-a-sid"),
        pytest.param(
            urlencode({"MessageSid": SMS}).encode(), "MessageStatus", id="no-status"
        ),
        pytest.param(b"MessageSid=\xff", "body", id="not-utf8"),
    ],
)
def test_malformed_callbacks_are_refused(body: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        twilio_status.parse(body, {})
    assert caught.value.field == field


def request(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {} if signature is None else {"x-twilio-signature": signature}
    return WebhookRequest(
        body=body,
        headers=headers,
        url=URL,
        received_at=datetime(2025, 3, 5, 12, 3, tzinfo=UTC),
    )


def test_the_callback_is_verified_over_its_own_url() -> None:
    body = sample("sms-delivered")
    params = parse_qsl(body.decode(), keep_blank_values=True)
    good = twilio.expected_signature(URL, params, TOKEN)
    inbound_url = twilio.expected_signature(
        URL.replace("/status", "/sms"), params, TOKEN
    )

    twilio.verify(request(body, good), TOKEN)
    for signature in (inbound_url, None):
        with pytest.raises(SignatureInvalid):
            twilio.verify(request(body, signature), TOKEN)
