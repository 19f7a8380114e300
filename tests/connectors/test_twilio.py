"""Twilio connector: published signature vectors, sample webhooks, malformed input."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from connectors import twilio
from connectors.model import (
    Attachment,
    Channel,
    FormLimits,
    IdentityClaim,
    IdentityKind,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from tests.bombs import twilio_pairs_bomb

DATA = Path(__file__).parent.parent / "data" / "twilio"
RECEIVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Twilio's worked example from its security guide (see tests/data/twilio/SOURCES.md).
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

# twilio-python tests/unit/test_request_validator.py (also twilio-ruby/java/go).
SDK_PARAMS = {**DOC_PARAMS, "Caller": "+14158675309", "From": "+14158675309"}
SDK_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
SDK_DUPLICATES = [
    ("Sid", "CA123"),
    ("SidAccount", "AC123"),
    ("Digits", "5678"),
    ("Digits", "1234"),
]
SDK_DUPLICATE_SIGNATURE = "IK+Dwps556ElfBT0I3Rgjkr1wJU="

SMS_SID = "SM3f6c0d2b9a8e4f71b2c5d8e9a0b1c2d3"
WHATSAPP_SID = "SM7e1d2c3b4a5f60718293a4b5c6d7e8f0"
MMS_SID = "MM5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d"
SID_1 = "SM" + "0" * 31 + "1"  # shaped like a real SID: the format is enforced
MMS_SID_1 = "MM" + "0" * 31 + "1"
MEDIA_BASE = (
    "https://api.twilio.com/2010-04-01/Accounts/AC0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    f"/Messages/{MMS_SID}/Media/"
)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def request(body: bytes, url: str, signature: str | None) -> WebhookRequest:
    headers = {} if signature is None else {"x-twilio-signature": signature}
    return WebhookRequest(body=body, headers=headers, url=url, received_at=RECEIVED_AT)


def form(params: dict[str, str] | list[tuple[str, str]]) -> bytes:
    return urlencode(params).encode()


# --- expected_signature ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        pytest.param(DOC_URL, DOC_PARAMS, DOC_SIGNATURE, id="docs-worked-example"),
        pytest.param(
            DOC_URL,
            list(reversed(DOC_PARAMS.items())),
            DOC_SIGNATURE,
            id="docs-example-order-independent",
        ),
        pytest.param(DOC_URL, SDK_PARAMS, SDK_SIGNATURE, id="sdk-vector"),
        pytest.param(
            DOC_URL, SDK_DUPLICATES, SDK_DUPLICATE_SIGNATURE, id="sdk-repeated-names"
        ),
        pytest.param(
            DOC_URL,
            list(reversed(SDK_DUPLICATES)),
            SDK_DUPLICATE_SIGNATURE,
            id="repeated-names-sorted-by-value",
        ),
        pytest.param(
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            SDK_PARAMS,
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
            id="sdk-https-with-443",
        ),
    ],
)
def test_expected_signature_matches_published_vectors(
    url: str, params: twilio.Params, signature: str
) -> None:
    assert twilio.expected_signature(url, params, DOC_TOKEN) == signature


# --- verify ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "url", "signature"),
    [
        pytest.param(
            form(DOC_PARAMS), DOC_URL, DOC_SIGNATURE, id="docs-example-as-post"
        ),
        pytest.param(
            form(list(reversed(SDK_DUPLICATES))),
            DOC_URL,
            SDK_DUPLICATE_SIGNATURE,
            id="repeated-names-in-body",
        ),
        pytest.param(
            form(SDK_PARAMS),
            "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
            SDK_SIGNATURE,
            id="sdk-https-port-removed",
        ),
        pytest.param(
            form(SDK_PARAMS),
            "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
            id="sdk-http-port-kept",
        ),
        pytest.param(
            form(SDK_PARAMS),
            DOC_URL,
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
            id="sdk-https-443-added",
        ),
        pytest.param(
            form(SDK_PARAMS),
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "0ZXoZLH/DfblKGATFgpif+LLRf4=",
            id="sdk-http-80-added",
        ),
    ],
)
def test_verify_accepts_published_vectors(
    body: bytes, url: str, signature: str
) -> None:
    twilio.verify(request(body, url, signature), DOC_TOKEN)


def test_verify_accepts_blank_values_and_a_url_with_a_bad_port() -> None:
    url = "https://mycompany.com:port/hook"
    params = [("Body", ""), ("From", "+14155550100")]
    signature = twilio.expected_signature(url, params, "token")

    twilio.verify(request(b"Body=&From=%2B14155550100", url, signature), "token")


def test_verify_accepts_a_signed_sample_webhook() -> None:
    url = "https://omniroute.example.com/webhooks/twilio/sms"
    body = sample("sms.form")
    expected = (
        "nWd1Evwx+q/9e0s0RLn2mQKMiWs="  # computed with `openssl dgst -sha1 -hmac`
    )

    assert twilio.expected_signature(url, parse_qsl(body.decode()), "token") == expected
    twilio.verify(request(body, url, expected), "token")


@pytest.mark.parametrize(
    ("body", "url", "signature", "token", "reason"),
    [
        pytest.param(
            form(DOC_PARAMS),
            DOC_URL,
            DOC_SIGNATURE,
            "54321",
            "does not match",
            id="wrong-token",
        ),
        pytest.param(
            form({**DOC_PARAMS, "Digits": "9999"}),
            DOC_URL,
            DOC_SIGNATURE,
            DOC_TOKEN,
            "does not match",
            id="tampered-param",
        ),
        pytest.param(
            form({**DOC_PARAMS, "Body": "injected"}),
            DOC_URL,
            DOC_SIGNATURE,
            DOC_TOKEN,
            "does not match",
            id="added-param",
        ),
        pytest.param(
            form(DOC_PARAMS),
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            DOC_SIGNATURE,
            DOC_TOKEN,
            "does not match",
            id="url-query-mismatch",
        ),
        pytest.param(
            form(DOC_PARAMS),
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            DOC_SIGNATURE,
            DOC_TOKEN,
            "does not match",
            id="url-scheme-mismatch",
        ),
        pytest.param(
            form(DOC_PARAMS),
            DOC_URL,
            DOC_SIGNATURE.lower(),
            DOC_TOKEN,
            "does not match",
            id="signature-case-matters",
        ),
        pytest.param(
            form(DOC_PARAMS),
            DOC_URL,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=é",
            DOC_TOKEN,
            "does not match",
            id="non-ascii-signature",
        ),
        pytest.param(
            form(DOC_PARAMS),
            DOC_URL,
            None,
            DOC_TOKEN,
            "is missing",
            id="missing-header",
        ),
        pytest.param(
            form(DOC_PARAMS), DOC_URL, "", DOC_TOKEN, "is missing", id="empty-header"
        ),
        pytest.param(
            b"Body=\xff",
            DOC_URL,
            DOC_SIGNATURE,
            DOC_TOKEN,
            "not UTF-8",
            id="binary-body",
        ),
    ],
)
def test_verify_rejects(
    body: bytes, url: str, signature: str | None, token: str, reason: str
) -> None:
    with pytest.raises(SignatureInvalid, match=reason) as caught:
        twilio.verify(request(body, url, signature), token)

    assert token not in caught.value.reason


def _fields(count: int) -> list[tuple[str, str]]:
    return [(f"F{i:03d}", "v") for i in range(count)]


@pytest.mark.parametrize(
    ("params", "limits", "reason"),
    [
        pytest.param(
            _fields(201),
            FormLimits(),
            "the form has more than 200 fields; not checked",
            id="201-fields",
        ),
        pytest.param(
            [("Body", "x" * 200_000)],
            FormLimits(),
            "the form exceeds 65536 bytes; not checked",
            id="200-KB",
        ),
        pytest.param(
            _fields(11),
            FormLimits(max_fields=10),
            "the form has more than 10 fields; not checked",
            id="configured-fields",
        ),
        pytest.param(
            [("Body", "x" * 100)],
            FormLimits(max_bytes=100),
            "the form exceeds 100 bytes; not checked",
            id="configured-bytes",
        ),
    ],
)
def test_verify_refuses_a_form_larger_than_twilio_sends_even_signed(
    params: list[tuple[str, str]], limits: FormLimits, reason: str
) -> None:
    signature = twilio.expected_signature(DOC_URL, params, DOC_TOKEN)
    req = WebhookRequest(
        body=form(params),
        headers={"x-twilio-signature": signature},
        url=DOC_URL,
        received_at=RECEIVED_AT,
        form_limits=limits,
    )
    with pytest.raises(SignatureInvalid) as caught:
        twilio.verify(req, DOC_TOKEN)
    assert caught.value.reason == reason


def test_verify_accepts_a_form_at_the_limits() -> None:
    params = _fields(200)
    signature = twilio.expected_signature(DOC_URL, params, DOC_TOKEN)
    body = form(params)
    limits = FormLimits(max_fields=200, max_bytes=len(body))
    req = WebhookRequest(
        body=body,
        headers={"x-twilio-signature": signature},
        url=DOC_URL,
        received_at=RECEIVED_AT,
        form_limits=limits,
    )
    twilio.verify(req, DOC_TOKEN)


def test_an_unsigned_10_mb_form_is_refused_in_microseconds() -> None:
    bomb = twilio_pairs_bomb()
    req = request(bomb.body, DOC_URL, bomb.headers["X-Twilio-Signature"])
    started = time.perf_counter()
    with pytest.raises(SignatureInvalid, match="not checked"):
        twilio.verify(req, DOC_TOKEN)
    assert time.perf_counter() - started < 0.1  # was 1.1 s of parse_qsl


# --- parse -------------------------------------------------------------------


def test_parse_inbound_sms() -> None:
    [message] = twilio.parse(sample("sms.form"), {}).messages

    assert message.provider == "twilio"
    assert message.provider_message_id == SMS_SID
    assert message.channel is Channel.sms
    assert message.sender == IdentityClaim(
        kind=IdentityKind.phone, value="+14155550100"
    )
    assert message.text == "Hi! Where is my order #42?"
    assert message.recipient == "+14155551212"
    assert message.attachments == ()
    assert message.content_type == "text"
    assert message.sent_at is None


def test_parse_inbound_whatsapp() -> None:
    [message] = twilio.parse(sample("whatsapp.form"), {}).messages

    assert message.provider_message_id == WHATSAPP_SID
    assert message.channel is Channel.whatsapp
    assert message.sender == IdentityClaim(
        kind=IdentityKind.phone, value="+5511987650100", name="Ana Souza"
    )
    assert message.text == "Olá, preciso de ajuda"
    assert message.recipient == "+14155238886"
    assert message.content_type == "text"


def test_parse_inbound_mms() -> None:
    [message] = twilio.parse(sample("mms.form"), {}).messages

    assert message.provider_message_id == MMS_SID
    assert message.channel is Channel.sms
    assert message.text == "Photo of the damage and the receipt"
    assert message.content_type == "media"
    assert message.attachments == (
        Attachment(
            url=MEDIA_BASE + "ME1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
            content_type="image/jpeg",
            provider_media_id="ME1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
        ),
        Attachment(
            url=MEDIA_BASE + "ME6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c",
            content_type="application/pdf",
            provider_media_id="ME6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c",
        ),
    )


@pytest.mark.parametrize(
    ("params", "attribute", "expected"),
    [
        pytest.param(
            {"SmsMessageSid": SID_1, "From": "+14155550100"},
            "provider_message_id",
            SID_1,
            id="legacy-sid-only",
        ),
        pytest.param(
            {"MessageSid": SID_1, "From": "12345", "Body": "STOP"},
            "sender",
            IdentityClaim(kind=IdentityKind.phone, value="12345"),
            id="short-code-sender-stays-raw",
        ),
        pytest.param(
            {"MessageSid": SID_1, "From": "whatsapp:+1", "ProfileName": ""},
            "sender",
            IdentityClaim(kind=IdentityKind.phone, value="+1", name=None),
            id="blank-profile-name",
        ),
        pytest.param(
            {"MessageSid": SID_1, "From": "+14155550100"}, "text", "", id="no-body"
        ),
        pytest.param(
            {"MessageSid": SID_1, "From": "+14155550100"},
            "recipient",
            None,
            id="no-to",
        ),
        pytest.param(
            {"MessageSid": SID_1, "From": "+14155550100", "NumMedia": ""},
            "attachments",
            (),
            id="blank-num-media",
        ),
        pytest.param(
            {
                "MessageSid": MMS_SID_1,
                "From": "+14155550100",
                "NumMedia": "1",
                "MediaUrl0": "https://api.twilio.com/",
            },
            "attachments",
            (Attachment(url="https://api.twilio.com/"),),
            id="media-url-without-sid-or-type",
        ),
    ],
)
def test_parse_optional_fields(
    params: dict[str, str], attribute: str, expected: object
) -> None:
    [message] = twilio.parse(form(params), {}).messages

    assert getattr(message, attribute) == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            b"MessageSid=SM00000000000000000000000000000001&From=%2B1&Body=\xff",
            "body",
            id="not-utf8",
        ),
        pytest.param(
            b"MessageSid=SM00000000000000000000000000000001&Body=hi",
            "From",
            id="missing-from",
        ),
        pytest.param(
            b"MessageSid=SM00000000000000000000000000000001&From=",
            "From",
            id="empty-from",
        ),
        pytest.param(
            b"MessageSid=SM00000000000000000000000000000001&From=whatsapp%3A",
            "From",
            id="prefix-only-from",
        ),
        pytest.param(b"From=%2B14155550100", "MessageSid", id="missing-sid"),
        pytest.param(
            b"MessageSid=&SmsMessageSid=&From=%2B1", "MessageSid", id="blank-sids"
        ),
        pytest.param(b"", "From", id="empty-body"),
        pytest.param(
            b"MessageSid=SM00000000000000000000000000000001&From=%2B1&NumMedia=two",
            "NumMedia",
            id="num-media-text",
        ),
        pytest.param(
            b"MessageSid=SM00000000000000000000000000000001&From=%2B1&NumMedia=-1",
            "NumMedia",
            id="num-media-negative",
        ),
        pytest.param(
            b"MessageSid=SM00000000000000000000000000000001&From=%2B1&NumMedia=2&MediaUrl0=https%3A%2F%2Fx%2FME1",
            "MediaUrl1",
            id="media-url-missing",
        ),
    ],
)
def test_parse_rejects_malformed(body: bytes, field: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        twilio.parse(body, {})

    assert caught.value.field == field


def test_ack_body_is_empty_twiml() -> None:
    assert twilio.ACK_BODY == (
        b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    )


# --- hostile input -------------------------------------------------------------

HOOK_URL = "https://omniroute.example.com/webhooks/twilio/sms"


def resplit(params: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    """`name`'s value swallows the next pair in signing order; that pair is dropped.

    Twilio signs URL + name1 + value1 + name2 + value2 ..., so the signature cannot
    tell `MessageSid=<sid>&NumMedia=2` from `MessageSid=<sid>NumMedia2`.
    """
    ordered = sorted(params)
    i = next(i for i, (key, _) in enumerate(ordered) if key == name)
    (key, value), (next_key, next_value) = ordered[i], ordered[i + 1]
    return [*ordered[:i], (key, value + next_key + next_value), *ordered[i + 2 :]]


def test_resplit_replay_still_verifies_but_parse_refuses_it() -> None:
    captured = parse_qsl(sample("mms.form").decode(), keep_blank_values=True)
    signature = twilio.expected_signature(HOOK_URL, captured, "token")
    replay = resplit(captured, "MessageSid")
    body = form(replay)

    assert dict(replay)["MessageSid"] == MMS_SID + "NumMedia2"
    assert "NumMedia" not in dict(replay)
    twilio.verify(request(body, HOOK_URL, signature), "token")  # still authentic
    with pytest.raises(PayloadInvalid) as caught:
        twilio.parse(body, {})
    assert caught.value.field == "MessageSid"


def test_the_captured_request_itself_still_parses() -> None:
    captured = sample("mms.form")
    [message] = twilio.parse(captured, {}).messages
    assert message.provider_message_id == MMS_SID


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"MessageSid": "SM123"}, "MessageSid", id="sid-short"),
        pytest.param({"MessageSid": MMS_SID + "0"}, "MessageSid", id="sid-long"),
        pytest.param({"MessageSid": "MG" + "0" * 32}, "MessageSid", id="sid-messaging-service"),
        pytest.param({"MessageSid": "SM" + "g" * 32}, "MessageSid", id="sid-not-hex"),
        pytest.param({"MessageSid": "sm" + "0" * 32}, "MessageSid", id="sid-prefix-case"),
        pytest.param({"SmsMessageSid": SID_1}, "SmsMessageSid", id="legacy-sid-differs"),
        pytest.param({"SmsSid": "SM1"}, "SmsSid", id="legacy-sms-sid-malformed"),
        pytest.param({"AccountSid": "AC123"}, "AccountSid", id="account-sid-short"),
        pytest.param({"AccountSid": "AC" + "0" * 32 + "ApiVersion2010-04-01"}, "AccountSid", id="account-sid-resplit"),
        pytest.param({"NumMedia": "11"}, "NumMedia", id="num-media-over-10"),
        pytest.param({"NumMedia": "9" * 5000}, "NumMedia", id="num-media-5000-digits"),
        pytest.param({"NumMedia": "+2"}, "NumMedia", id="num-media-plus-sign"),
        pytest.param({"NumMedia": " 2"}, "NumMedia", id="num-media-space"),
        pytest.param({"NumMedia": "\u0662"}, "NumMedia", id="num-media-non-ascii-digit"),
        pytest.param({"NumMedia": "1"}, "MediaUrl1", id="media-url-beyond-num-media"),
        pytest.param({"MediaUrl10": "https://x/ME"}, "MediaUrl10", id="media-url-10"),
        pytest.param({"MediaUrl" + "0" * 5000: "https://x/ME"}, "MediaUrl" + "0" * 24, id="media-url-5000-digit-name"),
    ],
)  # fmt: skip
def test_parse_refuses_malformed_sids_and_media(
    changes: dict[str, str], field: str
) -> None:
    params = dict(parse_qsl(sample("mms.form").decode(), keep_blank_values=True))

    with pytest.raises(PayloadInvalid) as caught:
        twilio.parse(form(params | changes), {})

    assert caught.value.field == field


@pytest.mark.parametrize(
    "sid",
    [
        pytest.param("SM" + "A" * 32, id="upper-hex"),
        pytest.param("MMec8e12b0a5eb4fc68e173f1c5db95b2a", id="docs-example-shape"),
    ],
)
def test_parse_accepts_documented_sid_shapes(sid: str) -> None:
    body = form({"MessageSid": sid, "SmsSid": sid, "From": "+14155550100"})
    [message] = twilio.parse(body, {}).messages
    assert message.provider_message_id == sid


def test_parse_accepts_ten_media() -> None:
    params = {"MessageSid": MMS_SID, "From": "+14155550100", "NumMedia": "10"}
    params |= {f"MediaUrl{i}": f"{MEDIA_BASE}ME{i:032x}" for i in range(10)}
    [message] = twilio.parse(form(params), {}).messages
    assert len(message.attachments) == 10
