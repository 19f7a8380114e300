"""Edits through the ingest unit of work: newest text wins, old texts kept, idempotent.

Messages are built as a connector returns them (`InboundMessage` with `edited_at`), so
the order and repetition of deliveries is chosen here, not by a provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.attachment_store import AttachmentStore
from app.db import Database
from app.events import EventConfig
from app.ingest import Ingestor, IngestPolicy, Outcome, Routing
from app.rules_state import RulesHolder
from app.settings import DEFAULT_RULES_FILE
from connectors.model import Channel, IdentityClaim, IdentityKind, InboundMessage
from routing.language import LanguageDetector

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SENT = NOW - timedelta(hours=1)
KEY = "123456789:7"  # <chat.id>:<message_id>


@pytest.fixture
async def ingestor(settings) -> AsyncIterator[Ingestor]:
    db = await Database.connect(settings)
    routing = Routing(
        rules=RulesHolder(DEFAULT_RULES_FILE),
        detector=LanguageDetector(("en", "de")),
        events=EventConfig(source="https://omniroute.example.com"),
    )
    store = AttachmentStore(settings.attachment_dir)
    yield Ingestor(db, store, IngestPolicy(idle_hours=24), routing)
    await db.close()


def message(body: str, *, edited_at: datetime | None = None) -> InboundMessage:
    return InboundMessage(
        provider="telegram",
        provider_message_id=KEY,
        channel=Channel.telegram,
        sender=IdentityClaim(kind=IdentityKind.telegram, value="123456789"),
        text=body,
        sent_at=SENT,
        edited_at=edited_at,
    )


def edit(body: str, minutes: int) -> InboundMessage:
    return message(body, edited_at=SENT + timedelta(minutes=minutes))


def at(minutes: int) -> str:
    return (SENT + timedelta(minutes=minutes)).isoformat()


async def deliver(ingestor: Ingestor, *messages: InboundMessage) -> list[Outcome]:
    outcomes = []
    for msg in messages:
        result = await ingestor.ingest(msg, connector="telegram", received_at=NOW)
        outcomes.append(result.outcome)
    return outcomes


async def stored(engine) -> tuple[str, str, list[dict[str, str]], datetime | None]:
    async with engine.connect() as conn:
        [row] = (
            await conn.execute(
                text("SELECT text, full_text, edit_history, edited_at FROM messages")
            )
        ).all()
    return row.text, row.full_text, row.edit_history, row.edited_at


async def test_an_edit_replaces_the_text_and_keeps_the_old_one(ingestor, engine):
    first = await ingestor.ingest(
        message("Order 1243 is late"), connector="telegram", received_at=NOW
    )
    edited = await ingestor.ingest(
        edit("Order 1234 is late", 2), connector="telegram", received_at=NOW
    )

    assert edited.outcome is Outcome.stored
    assert (edited.message_id, edited.customer_id, edited.conversation_id) == (
        first.message_id,
        first.customer_id,
        first.conversation_id,
    )
    assert edited.decision is None  # an edit is not routed again
    assert await stored(engine) == (
        "Order 1234 is late",
        "Order 1234 is late",
        [{"text": "Order 1243 is late", "edited_at": at(2)}],
        SENT + timedelta(minutes=2),
    )
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM decisions),"
                    " (SELECT count(*) FROM outbox),"
                    " (SELECT message_count FROM conversations)"
                )
            )
        ).one()
    assert tuple(counts) == (1, 1, 1)


async def test_edits_accumulate_oldest_first(ingestor, engine):
    await deliver(ingestor, message("v0"), edit("v1", 1), edit("v2", 5))

    assert await stored(engine) == (
        "v2",
        "v2",
        [{"text": "v0", "edited_at": at(1)}, {"text": "v1", "edited_at": at(5)}],
        SENT + timedelta(minutes=5),
    )


@pytest.mark.parametrize(
    ("deliveries", "outcomes", "history"),
    [
        pytest.param(
            [edit("v1", 1), edit("v1", 1)],
            [Outcome.stored, Outcome.duplicate],
            ["v0"],
            id="redelivered-edit-appends-once",
        ),
        pytest.param(
            [edit("v2", 5), edit("v1", 1)],
            [Outcome.stored, Outcome.duplicate],
            ["v0"],
            id="late-older-edit-changes-nothing",
        ),
        pytest.param(
            [edit("v0", 1), edit("v1", 0)],
            [Outcome.duplicate, Outcome.duplicate],
            [],
            id="unchanged-text-is-no-history-but-still-the-newest-edit",
        ),
    ],
)
async def test_edit_order_and_repetition(
    ingestor, engine, deliveries, outcomes, history
):
    await deliver(ingestor, message("v0"))

    assert await deliver(ingestor, *deliveries) == outcomes
    _, _, entries, _ = await stored(engine)
    assert [e["text"] for e in entries] == history


async def test_concurrent_redeliveries_of_one_edit_append_once(ingestor, engine):
    await deliver(ingestor, message("v0"))

    results = await asyncio.gather(
        *(
            ingestor.ingest(edit("v1", 1), connector="telegram", received_at=NOW)
            for _ in range(10)
        )
    )

    assert sorted(r.outcome for r in results) == [Outcome.duplicate] * 9 + [
        Outcome.stored
    ]
    assert await stored(engine) == (
        "v1",
        "v1",
        [{"text": "v0", "edited_at": at(1)}],
        SENT + timedelta(minutes=1),
    )


async def test_an_edit_of_a_message_never_received_is_stored_as_new(ingestor, engine):
    outcomes = await deliver(
        ingestor,
        edit("v2", 5),
        message("v0"),  # the original, redelivered late: already there
        edit("v1", 1),  # older than what we hold
        edit("v3", 9),
    )

    assert outcomes == [
        Outcome.stored,
        Outcome.duplicate,
        Outcome.duplicate,
        Outcome.stored,
    ]
    assert await stored(engine) == (
        "v3",
        "v3",
        [{"text": "v2", "edited_at": at(9)}],
        SENT + timedelta(minutes=9),
    )


async def test_concurrent_first_edits_keep_the_newest(ingestor, engine):
    # No stored message: every one tries to insert, the losers retry as edits.
    edits = [edit(f"v{minute}", minute) for minute in (3, 1, 4, 2)]

    results = await asyncio.gather(
        *(ingestor.ingest(e, connector="telegram", received_at=NOW) for e in edits)
    )

    assert Outcome.stored in {r.outcome for r in results}
    body, _, _, edited_at = await stored(engine)
    assert (body, edited_at) == ("v4", SENT + timedelta(minutes=4))


async def test_an_edit_time_in_the_future_is_clamped_to_receipt(ingestor, engine):
    await deliver(ingestor, message("v0"))

    await deliver(ingestor, replace(edit("v1", 0), edited_at=NOW + timedelta(days=1)))

    _, _, [entry], edited_at = await stored(engine)
    assert edited_at == NOW
    assert entry == {"text": "v0", "edited_at": NOW.isoformat()}
