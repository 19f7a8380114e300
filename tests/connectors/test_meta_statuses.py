"""connectors.meta_statuses through meta.parse: WhatsApp statuses, Messenger and
Instagram delivery and read receipts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import meta
from connectors.meta_statuses import MAX_STATUSES
from connectors.model import DeliveryStatus, PayloadInvalid, StatusUpdate

DATA = Path(__file__).parent.parent / "data" / "meta"
PSID = "6745348372145920"
IG_MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcx"
    "MDMwMDk0OTEyODE3NTg2NjgxMDU2MTQ0NzozMTk3MjMyNjY2MzEyMzIxODc2NTk0NDc1NjQ3NTE3Nj"
    "U3NgZDZD"
)
WATERMARK = datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=UTC)  # 1458668856253
READ_AT = datetime(2016, 3, 22, 17, 47, 36, 463000, tzinfo=UTC)  # 1458668856463


def sample(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def whatsapp(*statuses: object, field: str = "messages") -> bytes:
    value = {"messaging_product": "whatsapp", "statuses": list(statuses)}
    change = {"field": field, "value": value}
    entry = {"id": "102290129340398", "changes": [change]}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [entry]}
    ).encode()


def messaging(*events: object, obj: str = "page") -> bytes:
    entry = {"id": "107712345678901", "messaging": list(events)}
    return json.dumps({"object": obj, "entry": [entry]}).encode()


def wa(wamid: str, status: DeliveryStatus, at: datetime, **fields: str) -> StatusUpdate:
    return StatusUpdate(
        provider="whatsapp",
        provider_message_id=wamid,
        status=status,
        at=at,
        **fields,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "whatsapp_status",
            [
                wa(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
                    DeliveryStatus.delivered,
                    datetime(2025, 2, 12, 0, 43, 55, tzinfo=UTC),
                )
            ],
            id="whatsapp-delivered",
        ),
        pytest.param(
            "whatsapp_status_failed",
            [
                wa(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
                    DeliveryStatus.failed,
                    datetime(2025, 2, 12, 0, 43, 56, tzinfo=UTC),
                    error_code="130429",
                    error="Rate limit hit: Message failed to send because there were"
                    " too many messages sent from this phone number in a short period"
                    " of time",
                )
            ],
            id="whatsapp-failed-with-error",
        ),
        pytest.param(
            "whatsapp_multi",
            [
                wa(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RkQzNTA2RjJCM0Y1QjY2QjYA",
                    DeliveryStatus.read,
                    datetime(2025, 2, 12, 0, 44, 2, tzinfo=UTC),
                )
            ],
            id="whatsapp-status-beside-messages",
        ),
        pytest.param(
            "messenger_receipts",
            [
                StatusUpdate(
                    provider="messenger",
                    provider_message_id="mid.1458668856218:ed81099e15d3f4f233",
                    status=DeliveryStatus.delivered,
                ),
                StatusUpdate(
                    provider="messenger",
                    status=DeliveryStatus.delivered,
                    recipient=PSID,
                    watermark=WATERMARK,
                ),
                StatusUpdate(
                    provider="messenger",
                    status=DeliveryStatus.read,
                    at=READ_AT,
                    recipient=PSID,
                    watermark=WATERMARK,
                ),
            ],
            id="messenger-delivery-mids-and-watermarks",
        ),
        pytest.param(
            "instagram_seen",
            [
                StatusUpdate(
                    provider="instagram",
                    provider_message_id=IG_MID,
                    status=DeliveryStatus.read,
                    at=datetime(2019, 9, 23, 18, 14, 46, 134000, tzinfo=UTC),
                )
            ],
            id="instagram-seen-by-mid",
        ),
        pytest.param("whatsapp_text", [], id="messages-only"),
        pytest.param("messenger_echo", [], id="echo"),
    ],
)
def test_samples(name: str, expected: list[StatusUpdate]) -> None:
    assert list(meta.parse(sample(name), {}).statuses) == expected


def test_messages_and_statuses_of_one_post_are_both_parsed() -> None:
    parsed = meta.parse(sample("whatsapp_multi"), {})
    assert (len(parsed.messages), len(parsed.statuses)) == (3, 1)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param("sent", DeliveryStatus.sent, id="sent"),
        pytest.param("delivered", DeliveryStatus.delivered, id="delivered"),
        pytest.param("read", DeliveryStatus.read, id="read"),
        pytest.param("played", DeliveryStatus.read, id="voice-played-is-read"),
        pytest.param("failed", DeliveryStatus.failed, id="failed"),
    ],
)
def test_whatsapp_status_values(raw: str, status: DeliveryStatus) -> None:
    body = whatsapp({"id": "wamid.A", "status": raw, "timestamp": "1739321035"})
    [update] = meta.parse(body, {}).statuses
    assert update.status is status


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"status": "read"}, id="no-id"),
        pytest.param({"id": "wamid.A"}, id="no-status"),
        pytest.param({"id": "wamid.A", "status": "deleted"}, id="unknown-status"),
        pytest.param({"id": "", "status": "read"}, id="empty-id"),
        pytest.param({"id": "x" * 2000, "status": "read"}, id="id-too-long"),
        pytest.param("junk", id="not-an-object"),
    ],
)
def test_unreadable_whatsapp_statuses_are_dropped_alone(item: object) -> None:
    body = whatsapp(item, {"id": "wamid.B", "status": "delivered"})
    assert [u.provider_message_id for u in meta.parse(body, {}).statuses] == ["wamid.B"]


def test_whatsapp_statuses_of_other_fields_are_not_read() -> None:
    body = whatsapp({"id": "wamid.A", "status": "read"}, field="account_update")
    assert meta.parse(body, {}).statuses == ()


def test_a_timestamp_that_is_no_time_leaves_at_unset() -> None:
    body = whatsapp({"id": "wamid.A", "status": "read", "timestamp": "soon"})
    [update] = meta.parse(body, {}).statuses
    assert update.at is None


def test_a_failure_without_errors_has_no_error() -> None:
    body = whatsapp({"id": "wamid.A", "status": "failed", "errors": []})
    [update] = meta.parse(body, {}).statuses
    assert (update.error_code, update.error) == (None, None)


def test_errors_on_a_delivered_status_are_not_kept() -> None:
    error = {"code": 1, "title": "odd"}
    body = whatsapp({"id": "wamid.A", "status": "delivered", "errors": [error]})
    [update] = meta.parse(body, {}).statuses
    assert (update.error_code, update.error) == (None, None)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            {"sender": {"id": PSID}, "delivery": {"watermark": 1458668856253}},
            [(None, DeliveryStatus.delivered, PSID)],
            id="delivery-without-mids",
        ),
        pytest.param(
            {"sender": {"id": PSID}, "read": {"watermark": "1458668856253"}},
            [(None, DeliveryStatus.read, PSID)],
            id="read-watermark-as-string",
        ),
        pytest.param(
            {"sender": {"id": PSID}, "delivery": {"mids": ["m_1", "m_2"]}},
            [
                ("m_1", DeliveryStatus.delivered, None),
                ("m_2", DeliveryStatus.delivered, None),
            ],
            id="mids-without-watermark",
        ),
        pytest.param(
            {"delivery": {"watermark": 1458668856253}}, [], id="no-sender-dropped"
        ),
        pytest.param(
            {"sender": {"id": PSID}, "delivery": {"watermark": "soon"}},
            [],
            id="watermark-no-time-dropped",
        ),
        pytest.param({"sender": {"id": PSID}, "delivery": {}}, [], id="empty-delivery"),
        pytest.param(
            {"sender": {"id": PSID}, "delivery": {"mids": "m_1"}},
            [],
            id="mids-not-a-list-dropped",
        ),
    ],
)
def test_messenger_receipts(event: object, expected: list[tuple[object, ...]]) -> None:
    statuses = meta.parse(messaging(event), {}).statuses
    assert [(u.provider_message_id, u.status, u.recipient) for u in statuses] == (
        expected
    )


def test_instagram_receipts_are_instagram_statuses() -> None:
    event = {"sender": {"id": "1045934719324512"}, "read": {"watermark": 1}}
    [update] = meta.parse(messaging(event, obj="instagram"), {}).statuses
    assert (update.provider, update.recipient) == ("instagram", "1045934719324512")


def test_statuses_per_post_are_bounded() -> None:
    items = [{"id": f"wamid.{n}", "status": "read"} for n in range(MAX_STATUSES)]
    assert len(meta.parse(whatsapp(*items), {}).statuses) == MAX_STATUSES
    with pytest.raises(PayloadInvalid, match="more than 1000 statuses"):
        meta.parse(whatsapp(*items, {"id": "wamid.x", "status": "read"}), {})
