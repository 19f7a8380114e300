"""connectors.meta: WhatsApp Cloud API, Messenger and Instagram webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import meta
from connectors.model import (
    Attachment,
    Channel,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)

DATA = Path(__file__).parent.parent / "data" / "meta"
SHEENA = IdentityClaim(kind=IdentityKind.phone, value="+16505551234", name="Sheena Nelson")
PABLO = IdentityClaim(kind=IdentityKind.phone, value="+5215512345678", name="Pablo Morales")
PSID = IdentityClaim(kind=IdentityKind.messenger, value="6745348372145920")
IGSID = IdentityClaim(kind=IdentityKind.instagram, value="1045934719324512")
PAGE = "107712345678901"
FEB_12 = datetime(2025, 2, 12, 0, 43, 44, tzinfo=UTC)  # 1739321024
TIMELESS = datetime(2025, 1, 1, tzinfo=UTC)


def sample(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def wa(
    wamid: str,
    sent_at: datetime,
    text: str,
    content_type: str,
    *,
    attachments: tuple[Attachment, ...] = (),
    sender: IdentityClaim = SHEENA,
    recipient: str = "15550783881",
) -> InboundMessage:
    return InboundMessage(
        provider="meta",
        provider_message_id=f"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQz{wamid}",
        channel=Channel.whatsapp,
        sender=sender,
        text=text,
        sent_at=sent_at,
        attachments=attachments,
        recipient=recipient,
        content_type=content_type,
    )


def at(seconds: int) -> datetime:
    return FEB_12.replace(second=44 + seconds) if seconds < 16 else FEB_12


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "whatsapp_text",
            [
                wa(
                    "QTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC),
                    "Does it come in another color?",
                    "text",
                )
            ],
            id="text",
        ),
        pytest.param(
            "whatsapp_image",
            [
                wa(
                    "QUFERjg0NDEzNDdFODU3MUMxMAA=",
                    at(0),
                    "The best succulent ever?",
                    "image",
                    attachments=(
                        Attachment(
                            provider_media_id="1003383421387256", content_type="image/jpeg"
                        ),
                    ),
                )
            ],
            id="image-with-caption",
        ),
        pytest.param(
            "whatsapp_audio",
            [
                wa(
                    "QjhGRDAzNkQ0QkY0NkE5NDY4QQA=",
                    at(1),
                    "",
                    "audio",
                    attachments=(
                        Attachment(
                            provider_media_id="1047295836590234",
                            content_type="audio/ogg; codecs=opus",
                        ),
                    ),
                )
            ],
            id="audio-voice-note",
        ),
        pytest.param(
            "whatsapp_video",
            [
                wa(
                    "RTBBMzU0MTg4QjI3RjIwQTlCQwA=",
                    at(2),
                    "Unboxing",
                    "video",
                    attachments=(
                        Attachment(
                            provider_media_id="1166846181421424", content_type="video/mp4"
                        ),
                    ),
                )
            ],
            id="video",
        ),
        pytest.param(
            "whatsapp_document",
            [
                wa(
                    "NDZCQ0E4RDg1RjlBNkNGMjUwRgA=",
                    at(3),
                    "Receipt for order 1234",
                    "document",
                    attachments=(
                        Attachment(
                            provider_media_id="1376223850470843",
                            content_type="application/pdf",
                            filename="receipt-1234.pdf",
                        ),
                    ),
                )
            ],
            id="document-with-filename",
        ),
        pytest.param(
            "whatsapp_sticker",
            [
                wa(
                    "OTlBRTI1NzE2MkQzRUU1MDlBNwA=",
                    at(4),
                    "",
                    "sticker",
                    attachments=(
                        Attachment(
                            provider_media_id="1220186162546066", content_type="image/webp"
                        ),
                    ),
                )
            ],
            id="sticker",
        ),
        pytest.param(
            "whatsapp_location",
            [
                wa(
                    "QkM1QjA2QjIxMEQ1NkNBNDBGRQA=",
                    at(5),
                    "Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025"
                    " (37.483307, -122.148981)",
                    "location",
                )
            ],
            id="location",
        ),
        pytest.param(
            "whatsapp_interactive_button_reply",
            [wa("Rjg5QjQ3M0JBRDQ0RjY2QkNCRAA=", at(6), "Cancel", "interactive")],
            id="interactive-button-reply",
        ),
        pytest.param(
            "whatsapp_interactive_list_reply",
            [
                wa(
                    "QkE1NzlGOEQ5QzNBMDA4RUFGQgA=",
                    at(7),
                    "Priority Mail Express",
                    "interactive",
                )
            ],
            id="interactive-list-reply",
        ),
        pytest.param(
            "whatsapp_button",
            [wa("NkUwQzFFNEE4NEQ2RjNDMkE5MQA=", at(8), "Stop promotions", "button")],
            id="template-quick-reply-button",
        ),
        pytest.param(
            "whatsapp_reaction",
            [wa("Nzc0QjBBN0U2RTRDNEM0NUY0M0UA"[:0] + "NzRCMEE3RTZFNEM0QzQ1RjQzRQA=", at(9), "\N{THUMBS UP SIGN}", "reaction")],
            id="reaction",
        ),
        pytest.param(
            "whatsapp_unsupported",
            [wa("RDlEMTM5QjlFQzA5MkE2NUVGMAA=", at(10), "", "unsupported")],
            id="unsupported-kept",
        ),
        pytest.param("whatsapp_status", [], id="status-only"),
    ],
)
def test_parse_whatsapp_samples(name: str, expected: list[InboundMessage]) -> None:
    assert meta.parse(sample(name), {}) == expected
