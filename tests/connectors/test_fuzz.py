"""Mutated provider samples, signed as each provider signs, through verify then parse.

Every input must end in a normal return whose messages are storable, PayloadInvalid
or SignatureInvalid, never any other exception. Examples are derandomized so a run
is reproducible; set FUZZ_EXAMPLES (and FUZZ_RANDOM=1) to explore further locally.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import telegram, twilio
from connectors.model import Parsed, PayloadInvalid, SignatureInvalid, WebhookRequest
from connectors.registry import CONNECTORS, Connector
from connectors.signing import sign_body
from tests.connectors.storable import parsed_problems

DATA = Path(__file__).parent.parent / "data"
SECRET = "fuzz-secret"
MAILGUN_KEY = "TEST_WEBHOOK_SIGNING_KEY"  # the samples' signatures (see SOURCES.md)
URL = "https://omniroute.example/webhooks/fuzz"
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,
)
# Bytes that have broken parsers before: NULs and surrogates (raw and escaped),
# invalid UTF-8, structure characters, long runs, edge-of-range dates and numbers.
INTERESTING = [
    b"\x00", b"\\u0000", b"\\ud800", b"\\udfff", b"\xff", b"\xed\xa0\x80", b"\xc3",
    b"%00", b"%FF", b"%ED%A0%80", b"[", b"{", b"]", b"}", b'"', b"\\", b"&", b"=",
    b"\r\n", b"\r\n\r\n", b"--", b"<", b">", b";", "\u00e9".encode(), "\U0001f600".encode(),
    b"9" * 40, b"A" * 3000, b"+14:00", b"0001-01-01T00:00:00+14:00",
    b"9999-12-31T23:59:59-14:00", b"1e999", b"-1", b"NaN", b"null", b"[]", b"{}",
]  # fmt: skip
POISON: list[object] = [
    "\x00", "a\x00b", "\ud800", "x\udfff", "x" * 3000, "", " ", -1, 0, 2**64,
    -62135596800, 253402300800, "-62135596800", "9" * 5000, None, True, [], {},
    [[[[[]]]]], 1e308, "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "\U0001f600", "whatsapp:", "SM" + "0" * 32 + "NumMedia2", "11", "+2",
]  # fmt: skip
FORM_NAMES = [
    "MessageSid", "SmsSid", "SmsMessageSid", "AccountSid", "NumMedia", "MediaUrl0",
    "MediaUrl10", "From", "To", "attachment-count", "message-headers", "Date",
    "References", "Message-Id", "from", "timestamp", "token", "signature",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sample:
    connector: Connector
    name: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime


def _headers(provider: str, path: Path) -> dict[str, str]:
    if provider == "mime":
        return {"content-type": "message/rfc822"}
    if path.suffix == ".multipart":
        boundary = "----------------------------2c1bcd4e01a1"
        return {"content-type": f"multipart/form-data; boundary={boundary}"}
    if path.suffix == ".urlencoded":
        return {"content-type": "application/x-www-form-urlencoded"}
    return {"content-type": "application/json"} if path.suffix == ".json" else {}


def _received_at(body: bytes, headers: Mapping[str, str]) -> datetime:
    """Mailgun's signed timestamp, so its freshness check passes; otherwise any time."""
    if body.startswith(b"{") and b'"signature": {' in body:  # Mailgun events (JSON)
        stamp = json.loads(body)["signature"]["timestamp"]
        return datetime.fromtimestamp(int(stamp), tz=UTC)
    for line in body.replace(b"&", b"\n").split(b"\n"):
        if line.startswith(b"timestamp="):
            return datetime.fromtimestamp(int(line[10:]), tz=UTC)
    marker = b'name="timestamp"\r\n\r\n'
    if marker in body:
        raw = body.split(marker, 1)[1].split(b"\r\n", 1)[0]
        return datetime.fromtimestamp(int(raw), tz=UTC)
    return datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


def _samples(connector: Connector) -> list[Sample]:
    provider = connector.name  # tests/data/<provider> is named like the connector
    found = []
    for path in sorted((DATA / provider).iterdir()):
        if path.name == "SOURCES.md":
            continue
        body = path.read_bytes()
        headers = _headers(provider, path)
        found.append(
            Sample(connector, path.name, body, headers, _received_at(body, headers))
        )
    assert found, f"no samples for {connector.name}"
    return found


SAMPLES = {connector.name: _samples(connector) for connector in CONNECTORS}


def signed(sample: Sample, body: bytes) -> WebhookRequest:
    """`body` as the provider would have signed it with our secret."""
    headers = dict(sample.headers)
    name = sample.connector.name
    if name == "meta":
        headers["x-hub-signature-256"] = sign_body(body, SECRET)
    elif name in ("chat", "mime"):
        headers["x-omniroute-signature"] = sign_body(body, SECRET)
    elif name in ("twilio", "twilio_status"):
        params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        headers["x-twilio-signature"] = twilio.expected_signature(URL, params, SECRET)
    elif name == "telegram":  # setWebhook's secret_token, the same on every delivery
        headers[telegram.SECRET_HEADER] = SECRET
    # mailgun, mailgun_events: the signature is over timestamp + token in the body,
    # left as sent.
    return WebhookRequest(
        body=body, headers=headers, url=URL, received_at=sample.received_at
    )


def check(sample: Sample, body: bytes) -> None:
    """verify, then parse (and replay_key) the way app/api/webhooks.py calls them."""
    connector = sample.connector
    req = signed(sample, body)
    secret = MAILGUN_KEY if connector.name.startswith("mailgun") else SECRET
    try:
        connector.verify(req, secret)
    except SignatureInvalid:
        return
    try:
        parsed = connector.parse(req.body, req.headers)
        if connector.replay_key is not None:
            assert isinstance(connector.replay_key(req.body, req.headers), str)
    except PayloadInvalid as error:
        assert isinstance(error.field, str)  # noqa: PT017
        return
    assert isinstance(parsed, Parsed)
    assert parsed_problems(parsed) == []


@st.composite
def mutated_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "repeat"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            chunk = st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=8)
            data[at:at] = draw(chunk)
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def _nodes(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nodes(item, (*path, index))
    return found


def _replaced(value: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {
            k: _replaced(v, rest, new) if k == head else v for k, v in value.items()
        }
    assert isinstance(value, list)
    return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


@st.composite
def mutated_json(draw: st.DrawFn, body: bytes) -> bytes:
    """Valid JSON with one node (leaf or container) replaced by a poison value."""
    document: object = json.loads(body)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_nodes(document)))
        document = _replaced(document, path, draw(st.sampled_from(POISON)))
    return json.dumps(document).encode()


@st.composite
def mutated_form(draw: st.DrawFn, body: bytes) -> bytes:
    """The urlencoded form with a value poisoned, a pair dropped or one added."""
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["value", "drop", "add"]))
        at = draw(st.integers(0, max(len(pairs) - 1, 0)))
        text = st.sampled_from([p for p in POISON if isinstance(p, str)])
        if op == "value" and pairs:
            pairs[at] = (pairs[at][0], draw(text))
        elif op == "drop" and pairs:
            del pairs[at]
        else:
            pairs.insert(at, (draw(st.sampled_from(FORM_NAMES)), draw(text)))
    return urlencode(pairs, errors="surrogatepass").encode()


@pytest.mark.parametrize(
    "name",
    list(SAMPLES),
)
@FUZZ
@given(data=st.data())
def test_mutated_bytes_end_cleanly(name: str, data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(SAMPLES[name]), label="sample")
    check(sample, data.draw(mutated_bytes(sample.body), label="body"))


STRUCTURED = {
    name: [s for s in samples if s.name.endswith((".json", ".form", ".urlencoded"))]
    for name, samples in SAMPLES.items()
}


@pytest.mark.parametrize("name", [n for n, s in STRUCTURED.items() if s])
@FUZZ
@given(data=st.data())
def test_mutated_fields_end_cleanly(name: str, data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(STRUCTURED[name]), label="sample")
    mutate = mutated_json if sample.name.endswith(".json") else mutated_form
    check(sample, data.draw(mutate(sample.body), label="body"))
