"""connectors.mailgun_events: Mailgun's JSON event webhooks, signed in the body."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import mailgun, mailgun_events
from connectors.model import (
    DeliveryStatus,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    StatusUpdate,
    WebhookRequest,
)

DATA = Path(__file__).parent.parent / "data" / "mailgun_events"
KEY = "TEST_WEBHOOK_SIGNING_KEY"  # the samples' signing key (SOURCES.md)
OURS = "6f1b0c1e-2c1d-4e8e-9a51-1f0d3c4b5a69"
BOUNCE = (
    "5.1.1 The email account that you tried to reach does not exist. Please try "
    "5.1.1 double-checking the recipient's email address for typos"
)


def document(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((DATA / f"{name}.json").read_bytes())
    return loaded


def body(doc: dict[str, object]) -> bytes:
    return json.dumps(doc).encode()


def event_data(doc: dict[str, object]) -> dict[str, object]:
    data = doc["event-data"]
    assert isinstance(data, dict)
    return data


def changed(name: str, **fields: object) -> bytes:
    doc = copy.deepcopy(document(name))
    event_data(doc).update(fields)
    return body(doc)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "delivered",
            (
                StatusUpdate(
                    provider="mailgun",
                    provider_message_id="20180812211713.1.DF5966851B4BAA99@example.org",
                    status=DeliveryStatus.delivered,
                    at=datetime(2018, 8, 12, 21, 17, 17, 153125, tzinfo=UTC),
                ),
            ),
            id="delivered",
        ),
        pytest.param(
            "failed-permanent",
            (
                StatusUpdate(
                    provider="mailgun",
                    provider_message_id="20180812214658.1.0DF563D0B3597700@example.org",
                    status=DeliveryStatus.failed,
                    at=datetime(2018, 8, 12, 21, 47, 2, 389832, tzinfo=UTC),
                    error_code="550",
                    error=BOUNCE,  # the SMTP answer's line break became a space
                ),
            ),
            id="permanent-failure-with-smtp-answer",
        ),
        pytest.param("failed-temporary", (), id="temporary-failure-not-recorded"),
    ],
)
def test_samples(name: str, expected: tuple[StatusUpdate, ...]) -> None:
    assert mailgun_events.parse(body(document(name)), {}) == Parsed(statuses=expected)


def test_our_custom_variable_names_the_message() -> None:
    variables = {"omniroute-message-id": OURS, "other": 1}

    [update] = mailgun_events.parse(
        changed("delivered", **{"user-variables": variables}), {}
    ).statuses

    assert update.message_id == OURS
    assert update.provider_message_id == "20180812211713.1.DF5966851B4BAA99@example.org"


@pytest.mark.parametrize(
    ("fields", "expected_id", "ours"),
    [
        pytest.param(
            {"message": {"headers": {"message-id": "<a@mg.example.com>"}}},
            "a@mg.example.com",
            None,
            id="brackets-removed",
        ),
        pytest.param(
            {"message": {}, "user-variables": {"omniroute-message-id": OURS}},
            None,
            OURS,
            id="variable-only",
        ),
        pytest.param(
            {"user-variables": "not an object"},
            "20180812211713.1.DF5966851B4BAA99@example.org",
            None,
            id="odd-variables-ignored",
        ),
    ],
)
def test_either_id_is_enough(
    fields: dict[str, object], expected_id: str | None, ours: str | None
) -> None:
    [update] = mailgun_events.parse(changed("delivered", **fields), {}).statuses
    assert (update.provider_message_id, update.message_id) == (expected_id, ours)


@pytest.mark.parametrize(
    "event",
    ["accepted", "opened", "clicked", "unsubscribed", "complained", "rejected"],
)
def test_other_events_are_acknowledged_without_a_status(event: str) -> None:
    assert mailgun_events.parse(changed("delivered", event=event), {}) == Parsed()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param(b"not json", "body", id="not-json"),
        pytest.param(b"{}", "event-data", id="no-event-data"),
        pytest.param(b'{"event-data": {}}', "event-data.event", id="no-event"),
        pytest.param(
            changed("delivered", message={}),
            "event-data.message.headers.message-id",
            id="no-id-at-all",
        ),
        pytest.param(
            changed("delivered", message={"headers": {"message-id": "x" * 2000}}),
            "event-data.message.headers.message-id",
            id="id-too-long",
        ),
    ],
)
def test_malformed_events_are_refused(raw: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        mailgun_events.parse(raw, {})
    assert caught.value.field == field


def request(raw: bytes, received_at: datetime) -> WebhookRequest:
    return WebhookRequest(
        body=raw,
        headers={"content-type": "application/json"},
        url="https://omniroute.example.com/webhooks/email/mailgun/events",
        received_at=received_at,
    )


SIGNED_AT = datetime.fromtimestamp(1534108637, tz=UTC)


def test_the_sample_signature_verifies() -> None:
    mailgun_events.verify(request(body(document("delivered")), SIGNED_AT), KEY)


def resigned(**signature: object) -> bytes:
    doc = copy.deepcopy(document("delivered"))
    doc["signature"] = signature
    return body(doc)


def mailgun_signature(timestamp: str, token: str) -> dict[str, object]:
    return {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun.sign(timestamp, token, KEY),
    }


@pytest.mark.parametrize(
    ("raw", "received_at", "key", "reason"),
    [
        pytest.param(
            body(document("delivered")),
            SIGNED_AT + timedelta(minutes=16),
            KEY,
            "in the past",
            id="stale",
        ),
        pytest.param(
            body(document("delivered")),
            SIGNED_AT,
            "another-key",
            "does not match",
            id="wrong-key",
        ),
        pytest.param(
            resigned(timestamp="1534108637", token="t", signature="00" * 32),
            SIGNED_AT,
            KEY,
            "does not match",
            id="wrong-signature",
        ),
        pytest.param(
            body({"event-data": {"event": "delivered"}}),
            SIGNED_AT,
            KEY,
            "no signature object",
            id="missing",
        ),
        pytest.param(b"\xff", SIGNED_AT, KEY, "no signature object", id="not-utf8"),
        pytest.param(
            resigned(**mailgun_signature("1534108637", "a b")),
            SIGNED_AT,
            KEY,
            "printable",
            id="token-with-space",
        ),
        pytest.param(
            resigned(**mailgun_signature("soon", "t")),
            SIGNED_AT,
            KEY,
            "unix seconds",
            id="timestamp-not-a-number",
        ),
    ],
)
def test_bad_signatures_are_refused(
    raw: bytes, received_at: datetime, key: str, reason: str
) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        mailgun_events.verify(request(raw, received_at), key)
    assert reason in caught.value.reason


def test_a_numeric_timestamp_is_read_like_a_string() -> None:
    signature = mailgun_signature("1534108637", "tok")
    raw = resigned(**(signature | {"timestamp": 1534108637}))

    mailgun_events.verify(request(raw, SIGNED_AT), KEY)
