"""The ingest unit of work below HTTP: `Ingestor` against real PostgreSQL.

Messages are built as connectors return them (`InboundMessage`), so these tests pin
stitching, placement, retries and duplicates without any webhook in between.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.attachment_store import AttachmentStore
from app.db import Database
from app.events import EventConfig
from app.ingest import Ingestor, IngestPolicy, Outcome, ReplayRejected, Routing
from app.rules_state import RulesHolder
from app.settings import DEFAULT_RULES_FILE
from connectors.model import (
    Channel,
    EmailHeaders,
    IdentityClaim,
    IdentityKind,
    InboundMessage,
)
from routing.language import LanguageDetector

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, inside business hours
EVENTS = EventConfig(source="https://omniroute.example.com")


@pytest.fixture(scope="session")
def detector() -> LanguageDetector:
    return LanguageDetector(("en", "de"))


@pytest.fixture
async def db(settings) -> AsyncIterator[Database]:
    database = await Database.connect(settings)
    yield database
    await database.close()


@pytest.fixture
def ingestor(db, settings, detector) -> Ingestor:
    routing = Routing(
        rules=RulesHolder(DEFAULT_RULES_FILE), detector=detector, events=EVENTS
    )
    store = AttachmentStore(settings.attachment_dir)
    return Ingestor(db, store, IngestPolicy(idle_hours=24), routing)


def sms(phone: str, body: str, sid: str | None = None) -> InboundMessage:
    return InboundMessage(
        provider="twilio",
        provider_message_id=sid or f"SM{uuid.uuid4().hex}",
        channel=Channel.sms,
        sender=IdentityClaim(kind=IdentityKind.phone, value=phone),
        text=body,
    )


def mail(
    address: str, body: str, message_id: str, replying_to: str | None = None
) -> InboundMessage:
    refs = (replying_to,) if replying_to else ()
    return InboundMessage(
        provider="mime",
        provider_message_id=message_id,
        channel=Channel.email,
        sender=IdentityClaim(kind=IdentityKind.email, value=address),
        text=body,
        subject="Order",
        email=EmailHeaders(message_id=message_id, in_reply_to=refs, references=refs),
    )


def chat_visitor(visitor: str, body: str, *links: IdentityClaim) -> InboundMessage:
    return InboundMessage(
        provider="chat",
        provider_message_id=f"chat-{uuid.uuid4().hex}",
        channel=Channel.chat,
        sender=IdentityClaim(kind=IdentityKind.chat, value=visitor),
        text=body,
        linked_identities=links,
    )


async def _rows(engine, sql: str, **params) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def test_first_message_writes_customer_conversation_message_decision_and_event(
    ingestor, engine
):
    result = await ingestor.ingest(
        sms("(415) 555-0100", "my invoice is wrong"),
        connector="twilio",
        received_at=NOW,
    )

    assert result.outcome is Outcome.stored
    [identity] = await _rows(engine, "SELECT kind, value, customer_id FROM identities")
    assert (identity.kind, identity.value) == ("phone", "+14155550100")
    assert identity.customer_id == result.customer_id
    [decision] = await _rows(engine, "SELECT id, message_id, queue FROM decisions")
    assert decision.message_id == result.message_id
    [event] = await _rows(engine, "SELECT key, event_id, payload FROM outbox")
    assert event.key == str(result.customer_id)
    assert event.event_id == decision.id  # the CloudEvents id is the decision id
    assert event.payload["data"]["queue"] == decision.queue == result.decision.queue


async def test_a_redelivered_message_is_a_duplicate_and_writes_nothing(
    ingestor, engine
):
    message = sms("+14155550100", "hello", sid="SM" + "a" * 32)
    first = await ingestor.ingest(message, connector="twilio", received_at=NOW)
    again = await ingestor.ingest(
        message, connector="twilio", received_at=NOW + timedelta(seconds=5)
    )

    assert (first.outcome, again.outcome) == (Outcome.stored, Outcome.duplicate)
    for table in ("messages", "decisions", "outbox", "customers", "conversations"):
        [(count,)] = await _rows(engine, f"SELECT count(*) FROM {table}")
        assert count == 1, table


async def test_concurrent_first_contacts_from_one_number_make_one_customer(
    ingestor, engine
):
    results = await asyncio.gather(
        *(
            ingestor.ingest(
                sms("+14155550123", f"n{i}"), connector="twilio", received_at=NOW
            )
            for i in range(20)
        )
    )

    assert {r.outcome for r in results} == {Outcome.stored}
    assert len({r.customer_id for r in results}) == 1
    assert len({r.conversation_id for r in results}) == 1
    [(messages,)] = await _rows(engine, "SELECT count(*) FROM messages")
    assert messages == 20


async def test_an_idle_conversation_is_closed_at_last_message_plus_idle_time(
    ingestor, engine
):
    first = await ingestor.ingest(
        sms("+14155550100", "a"), connector="twilio", received_at=NOW
    )
    later = NOW + timedelta(hours=25)
    second = await ingestor.ingest(
        sms("+14155550100", "b"), connector="twilio", received_at=later
    )

    assert second.customer_id == first.customer_id
    assert second.conversation_id != first.conversation_id
    [old] = await _rows(
        engine,
        "SELECT status, closed_at, close_reason FROM conversations WHERE id = :id",
        id=first.conversation_id,
    )
    assert (old.status, old.close_reason) == ("closed", "idle")
    assert old.closed_at == NOW + timedelta(hours=24)
    assert second.decision is not None
    assert second.decision.new_conversation


async def test_an_email_reply_reopens_its_thread_and_supersedes_the_open_one(
    ingestor, engine
):
    original = await ingestor.ingest(
        mail("ana@example.com", "order?", "m1@mail.example.com"),
        connector="mime",
        received_at=NOW,
    )
    later = NOW + timedelta(days=3)  # the thread went idle, a new one opened
    other = await ingestor.ingest(
        mail("ana@example.com", "new topic", "m2@mail.example.com"),
        connector="mime",
        received_at=later,
    )
    reply = await ingestor.ingest(
        mail("ana@example.com", "re", "m3@mail.example.com", "m1@mail.example.com"),
        connector="mime",
        received_at=later + timedelta(minutes=1),
    )

    assert reply.conversation_id == original.conversation_id != other.conversation_id
    states = dict(
        await _rows(
            engine, "SELECT id, coalesce(close_reason, status) FROM conversations"
        )
    )
    assert states == {
        original.conversation_id: "open",
        other.conversation_id: "superseded",
    }


async def test_a_single_use_token_twice_for_different_messages_is_a_replay(ingestor):
    stored = await ingestor.ingest(
        mail("bo@example.com", "a", "x1@mail.example.com"),
        connector="mailgun",
        received_at=NOW,
        nonce="token-1",
    )
    redelivered = await ingestor.ingest(
        mail("bo@example.com", "a", "x1@mail.example.com"),
        connector="mailgun",
        received_at=NOW,
        nonce="token-1",
    )

    assert (stored.outcome, redelivered.outcome) == (Outcome.stored, Outcome.duplicate)
    with pytest.raises(ReplayRejected):
        await ingestor.ingest(
            mail("bo@example.com", "b", "x2@mail.example.com"),
            connector="mailgun",
            received_at=NOW,
            nonce="token-1",
        )


async def test_a_verified_linked_identity_merges_into_its_holder_and_announces_it(
    ingestor, engine
):
    by_mail = await ingestor.ingest(
        mail("ida@example.com", "hi", "i1@mail.example.com"),
        connector="mime",
        received_at=NOW,
    )
    await ingestor.ingest(
        chat_visitor("v-ida", "hello"), connector="chat", received_at=NOW
    )
    linked = await ingestor.ingest(
        chat_visitor(
            "v-ida",
            "me again",
            IdentityClaim(kind=IdentityKind.email, value="IDA@example.com"),
        ),
        connector="chat",
        received_at=NOW + timedelta(minutes=1),
    )

    assert linked.customer_id == by_mail.customer_id  # the holder survives
    [merge] = await _rows(engine, "SELECT survivor_id, merged_id FROM customer_merges")
    assert merge.survivor_id == by_mail.customer_id
    [event] = await _rows(
        engine, "SELECT key, payload FROM outbox WHERE topic = 'omniroute.customers'"
    )
    assert event.key == str(by_mail.customer_id)
    assert event.payload["data"]["merged_customer_id"] == str(merge.merged_id)
    assert event.payload["type"] == "omniroute.customer.merged.v1"
