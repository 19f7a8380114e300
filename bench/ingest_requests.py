"""Distinct, correctly signed webhook requests of a mixed-channel workload.

Mix (by request): 35 % Twilio SMS, 15 % Twilio WhatsApp, 20 % Meta WhatsApp JSON,
20 % chat widget JSON, 10 % raw MIME email. Mailgun is not used (its 15-minute
timestamp window would not survive pre-generation).

Senders come from a pool of a few thousand identities (phones shared by Twilio and
Meta, so one customer spans channels; email addresses; chat visitors). The first
records visit every pool identity once (first contacts, consumed by the warm-up);
after that 97 % of requests come from the pool and 3 % from never-seen senders, so
most messages join an existing customer and some create one. Every request carries
a new provider message id: nothing is a cheap duplicate unless wrk wraps around,
which bench/replay.lua counts.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from bench.requests_file import render
from devtools.payloads import (
    SignedRequest,
    chat_message,
    mime_email,
    twilio_message,
    whatsapp_message,
)

_WORDS = (
    "hello where is my order parcel refund invoice please thanks delivery tomorrow"
    " address change account password broken arrived late size colour exchange help"
    " urgent question price discount subscription cancel number tracking status"
)
_FIRST = "Ana Ben Chen Dara Eli Fatima Gus Hana Ivan Jo Kemal Lea Mo Nia Omar Pia"
_LAST = "Ito Silva Novak Okafor Berg Costa Dubois Haddad Kim Lopez Meyer Rossi"
WORDS, FIRST, LAST = _WORDS.split(), _FIRST.split(), _LAST.split()


@dataclass(frozen=True, slots=True)
class Secrets:
    twilio: str
    meta: str
    chat: str
    email: str


@dataclass(frozen=True, slots=True)
class Pool:
    phones: list[str]  # E.164, valid US numbers
    emails: list[tuple[str, str]]  # (display name, address)
    visitors: list[tuple[str, str, str | None]]  # (visitor id, name, unverified email)


def make_pool(rng: random.Random, phones: int, emails: int, visitors: int) -> Pool:
    numbers = rng.sample(range(2_000_000), phones)  # +1 415 2xx xxxx, all valid
    return Pool(
        phones=[f"+1415{2_000_000 + n:07d}" for n in numbers],
        emails=[(person_name(rng), f"customer{i}@example.net") for i in range(emails)],
        visitors=[
            (
                f"web-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
                person_name(rng),
                f"visitor{i}@example.org" if rng.random() < 0.3 else None,
            )
            for i in range(visitors)
        ],
    )


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(3, 30))).capitalize() + "?"


class Workload:
    """Yields SignedRequest objects; `fresh` numbering keeps new senders unique."""

    def __init__(self, base_url: str, secrets: Secrets, pool: Pool, seed: int) -> None:
        self._base = base_url
        self._s = secrets
        self._pool = pool
        self._rng = random.Random(seed)
        self._fresh = 0
        self._seq = 0
        self.kinds: dict[str, int] = {}

    def requests(self, n: int) -> Iterator[SignedRequest]:
        for _ in range(n):
            yield self._next()

    def first_contacts(self) -> Iterator[SignedRequest]:
        """One message from every pool identity, in random order."""
        jobs: list[tuple[str, int]] = [
            ("phone", i) for i in range(len(self._pool.phones))
        ]
        jobs += [("email", i) for i in range(len(self._pool.emails))]
        jobs += [("chat", i) for i in range(len(self._pool.visitors))]
        self._rng.shuffle(jobs)
        for kind, index in jobs:
            if kind == "phone":
                phone = self._pool.phones[index]
                choice = self._rng.random()
                if choice < 0.5:
                    yield self.twilio(phone, whatsapp=False)
                elif choice < 0.75:
                    yield self.twilio(phone, whatsapp=True)
                else:
                    yield self._meta(phone, person_name(self._rng))
            elif kind == "email":
                yield self._email(*self._pool.emails[index])
            else:
                yield self._chat(*self._pool.visitors[index])

    def _next(self) -> SignedRequest:
        rng = self._rng
        fresh = rng.random() < 0.03
        roll = rng.random()
        if roll < 0.70:
            phone = self._fresh_phone() if fresh else rng.choice(self._pool.phones)
            if roll < 0.35:
                return self.twilio(phone, whatsapp=False)
            if roll < 0.50:
                return self.twilio(phone, whatsapp=True)
            return self._meta(phone, person_name(rng))
        if roll < 0.90:
            visitor = (
                (f"web-new-{self._bump()}", person_name(rng), None)
                if fresh
                else rng.choice(self._pool.visitors)
            )
            return self._chat(*visitor)
        sender = (
            (person_name(rng), f"new{self._bump()}@example.com")
            if fresh
            else rng.choice(self._pool.emails)
        )
        return self._email(*sender)

    def _bump(self) -> int:
        self._fresh += 1
        return self._fresh

    def _fresh_phone(self) -> str:
        return f"+1650{2_000_000 + self._bump():07d}"  # +1 650 2xx xxxx, disjoint

    def _count(self, kind: str) -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self._seq += 1

    def twilio(self, phone: str, *, whatsapp: bool) -> SignedRequest:
        self._count("twilio_whatsapp" if whatsapp else "twilio_sms")
        body = _text(self._rng)
        return twilio_message(
            self._base, self._s.twilio, phone, body, whatsapp=whatsapp
        )

    def _meta(self, phone: str, name: str) -> SignedRequest:
        self._count("meta_whatsapp")
        body = _text(self._rng)
        return whatsapp_message(self._s.meta, phone.removeprefix("+"), body, name=name)

    def _chat(self, visitor_id: str, name: str, email: str | None) -> SignedRequest:
        self._count("chat")
        text = _text(self._rng)
        return chat_message(
            self._s.chat, visitor_id, text, email=email, name=name, locale="en-US"
        )

    def _email(self, name: str, address: str) -> SignedRequest:
        self._count("email_mime")
        rng = self._rng
        body = _text(rng)
        if rng.random() < 0.5:  # a reply quoting our previous answer
            body += (
                "\r\n\r\nOn Mon, 23 Nov 2026 at 09:12, Support <support@omniroute.example.com>"
                " wrote:\r\n> " + _text(rng) + "\r\n> " + _text(rng)
            )
        subject = " ".join(rng.choices(WORDS, k=4)).capitalize()
        return mime_email(self._s.email, f"{name} <{address}>", body, subject=subject)


def rendered(request: SignedRequest, host: str) -> bytes:
    return render("POST", request.path, host, request.headers, request.body)


def twilio_only(base_url: str, auth_token: str, pool: Pool, n: int) -> Iterator[bytes]:
    """Twilio SMS form posts for the bare baseline (same shape as the service gets)."""
    load = Workload(base_url, Secrets(auth_token, "", "", ""), pool, seed=7)
    host = base_url.removeprefix("http://")
    rng = random.Random(11)
    for _ in range(n):
        yield rendered(load.twilio(rng.choice(pool.phones), whatsapp=False), host)
