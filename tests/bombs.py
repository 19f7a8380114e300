"""Hostile webhook bodies ("bombs") that once stalled the service, built on demand.

Each is small to send and was expensive to read before the bounds: the tests send
them to a real server while timing /healthz, and `python -m tests.bomb_latency`
does the same outside the suite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from devtools.payloads import SignedRequest, mime_request, twilio_request
from tests.conftest import SECRETS

ENCODED_WORD = "=?utf-8?q?abcde?="
MAILGUN = "/webhooks/email/mailgun"
TWILIO = "/webhooks/twilio/sms"


@dataclass(frozen=True, slots=True)
class Bomb:
    name: str
    request: SignedRequest
    status: int  # the documented answer
    slug: str  # its problem type


def _words(count: int) -> str:
    return " ".join([ENCODED_WORD] * count)


def mailgun_filename_bomb(words: int = 20_000) -> SignedRequest:
    """Unsigned Mailgun multipart whose attachment filename holds `words` encoded words."""
    boundary = "bomb"
    part = (
        f'Content-Disposition: form-data; name="attachment-1"; filename="{_words(words)}"'
        "\r\nContent-Type: text/plain\r\n\r\nx"
    )
    fields = [
        'Content-Disposition: form-data; name="timestamp"\r\n\r\n1700000000',
        'Content-Disposition: form-data; name="token"\r\n\r\n' + "t" * 50,
        'Content-Disposition: form-data; name="signature"\r\n\r\n' + "0" * 64,
    ]
    body = "".join(f"--{boundary}\r\n{p}\r\n" for p in [part, *fields])
    return SignedRequest(
        MAILGUN,
        (body + f"--{boundary}--\r\n").encode(),
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def twilio_pairs_bomb(pairs: int = 1_000_000) -> SignedRequest:
    """Unsigned Twilio form of `pairs` fields, 10 bytes each (10 MB, under 10 MiB)."""
    body = b"&".join(b"a=%07d" % i for i in range(pairs)) + b"&"
    return SignedRequest(
        TWILIO,
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl",
        },
    )


def _mime(headers: str, body: str) -> SignedRequest:
    message_id = f"<{uuid.uuid4().hex}@bomb.example>"
    raw = f"From: Bomb <bomb@example.org>\r\nMessage-ID: {message_id}\r\n{headers}"
    return mime_request(
        str(SECRETS["email_webhook_secret"]), (raw + "\r\n\r\n" + body).encode()
    )


def mime_subject_bomb(words: int = 20_000) -> SignedRequest:
    """Signed raw email whose Subject holds `words` RFC 2047 encoded words."""
    return _mime(f"Subject: {_words(words)}", "hi")


def mime_parts_bomb(parts: int = 60_000) -> SignedRequest:
    """Signed raw email of `parts` inline text parts."""
    part = "--b\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\n\r\nx\r\n"
    return _mime('Content-Type: multipart/mixed; boundary="b"', part * parts + "--b--")


def mime_depth_bomb(depth: int = 3_000) -> SignedRequest:
    """Signed raw email of multiparts nested `depth` deep, each the only part of its parent."""
    opening = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n"
        for i in range(depth)
    )
    closing = "".join(f"\r\n--b{i}--" for i in reversed(range(depth + 1)))
    inner = f"--b{depth}\r\nContent-Type: text/plain\r\n\r\nx"
    return _mime(
        'Content-Type: multipart/mixed; boundary="b0"', opening + inner + closing
    )


def mime_plain_text_bomb(size: int = 9 * 1024 * 1024) -> SignedRequest:
    """Signed raw email of one `size`-byte plain-text body (mail-parser-reply's worst)."""
    line = "All work and no play makes Jack a dull boy, said the customer.\r\n"
    return _mime("Subject: long", line * (size // len(line)))


def legit_sms(public_base_url: str, sid: str) -> SignedRequest:
    """A correctly signed SMS for a server whose PUBLIC_BASE_URL is `public_base_url`."""
    params = [
        ("MessageSid", sid),
        ("AccountSid", "AC" + "0" * 32),
        ("From", "+14155550142"),
        ("To", "+14155550000"),
        ("Body", "A real message among the bombs"),
        ("NumMedia", "0"),
    ]
    token = str(SECRETS["twilio_auth_token"])
    return twilio_request(public_base_url, token, params)


def bombs() -> list[Bomb]:
    """The hostile inputs of the issue, each with the answer README documents."""
    return [
        Bomb("mailgun-filename-20k-words", mailgun_filename_bomb(), 401, "signature-rejected"),
        Bomb("mime-subject-20k-words", mime_subject_bomb(), 422, "payload-invalid"),
        # A body-level limit: the body cannot be read (400), as for malformed MIME.
        Bomb("mime-60k-parts", mime_parts_bomb(), 400, "bad-request"),
        Bomb("twilio-1m-pairs", twilio_pairs_bomb(), 401, "signature-rejected"),
        Bomb("mime-3000-deep", mime_depth_bomb(), 400, "bad-request"),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Barrage:
    """What a server answered to rounds of bombs, with /healthz timed meanwhile."""

    rounds: list[
        dict[str, httpx.Response]
    ]  # per round: bomb name (or "legit") to answer
    healthz_seconds: list[float]  # each /healthz round trip while they were sent
    seconds: float  # from the first request sent to the last answer

    @property
    def worst_healthz(self) -> float:
        return max(self.healthz_seconds)


async def barrage(
    base: str,
    legit: SignedRequest,
    *,
    rounds: int = 1,
    extra: Mapping[str, SignedRequest] | None = None,
    every: float = 0.02,
) -> Barrage:
    """Send every bomb, `legit` and `extra` at once to `base`, `rounds` times over,
    timing GET /healthz every `every` seconds from a second client until the end."""
    latencies: list[float] = []
    stop = asyncio.Event()
    timeout = httpx.Timeout(60)

    async def poll(health: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            response = await health.get("/healthz")
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            await asyncio.sleep(every)

    async def send(client: httpx.AsyncClient, request: SignedRequest) -> httpx.Response:
        return await client.post(
            request.path, content=request.body, headers=request.headers
        )

    sent = {bomb.name: bomb.request for bomb in bombs()} | {"legit": legit}
    sent |= extra or {}
    answers: list[dict[str, httpx.Response]] = []
    async with (
        httpx.AsyncClient(base_url=base, timeout=timeout) as client,
        httpx.AsyncClient(base_url=base, timeout=timeout) as health,
    ):
        poller = asyncio.create_task(poll(health))
        await asyncio.sleep(5 * every)  # a few quiet round trips first
        latencies.clear()
        started = time.perf_counter()
        for _ in range(rounds):
            responses = await asyncio.gather(*(send(client, r) for r in sent.values()))
            answers.append(dict(zip(sent, responses, strict=True)))
        elapsed = time.perf_counter() - started
        stop.set()
        await poller
    return Barrage(answers, latencies, elapsed)
