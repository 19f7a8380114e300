"""Seed the read benchmark's database with COPY: 1M messages over 100k customers.

Customer 0 is the big one (100,000 messages); the other 900,000 messages fall on the
other 99,999 customers at random (about 9 each). Every customer has one verified
phone identity (a valid US number, +1 415 2xx xxxx) and one open conversation;
messages are spread over two years and written oldest first. Keys, foreign keys and indexes of the four
tables are dropped for the load and rebuilt from their catalog definitions
afterwards, then VACUUM ANALYZE, so the planner sees the tables as production would.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.ingest_requests import WORDS, person_name

TWO_YEARS = 2 * 365 * 24 * 3600
TABLES = ["customers", "identities", "conversations", "messages"]
CHANNELS = (("sms", "twilio"), ("whatsapp", "meta"), ("whatsapp", "twilio"))


@dataclass(frozen=True)
class Seeded:
    customers: list[uuid.UUID]
    phones: list[str]  # E.164, index-aligned with customers
    big_customer: uuid.UUID
    messages: int


def phone_of(index: int) -> str:
    return f"+1415{2_000_000 + index * 7:07d}"


async def seed(
    dsn: str, *, customers: int = 100_000, messages: int = 1_000_000, big: int = 100_000
) -> Seeded:
    rng = random.Random(2026)
    now = datetime.now(UTC).replace(microsecond=0)
    ids = [uuid.uuid4() for _ in range(customers)]
    conv = [uuid.uuid4() for _ in range(customers)]
    phones = [phone_of(i) for i in range(customers)]
    names = [person_name(rng) for _ in range(customers)]
    owner = [0] * big + [rng.randrange(1, customers) for _ in range(messages - big)]
    age = [rng.randrange(60, TWO_YEARS) for _ in range(messages)]
    # Rows in arrival order (oldest first), as ingest would have written them, so a
    # customer's messages are scattered over the heap like in production.
    order = sorted(range(messages), key=age.__getitem__, reverse=True)
    owner = [owner[i] for i in order]
    age = [age[i] for i in order]
    newest = [TWO_YEARS] * customers
    oldest = [0] * customers
    count = [0] * customers
    for who, seconds in zip(owner, age, strict=True):
        count[who] += 1
        newest[who] = min(newest[who], seconds)
        oldest[who] = max(oldest[who], seconds)
    texts = [
        " ".join(rng.choices(WORDS, k=rng.randint(3, 30))).capitalize() + "?"
        for _ in range(2000)
    ]

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        rebuild = await _drop_keys_and_indexes(conn, TABLES)
        await conn.copy_records_to_table(
            "customers",
            columns=["id", "display_name", "created_at"],
            records=(
                (ids[i], names[i], now - timedelta(seconds=oldest[i] + 3600))
                for i in range(customers)
            ),
        )
        await conn.copy_records_to_table(
            "identities",
            columns=["customer_id", "kind", "value", "verified", "name_hint"],
            records=(
                (ids[i], "phone", phones[i], True, names[i]) for i in range(customers)
            ),
        )
        await conn.copy_records_to_table(
            "conversations",
            columns=[
                "id",
                "customer_id",
                "status",
                "channels",
                "opened_at",
                "last_message_at",
                "message_count",
            ],
            records=(
                (
                    conv[i],
                    ids[i],
                    "open",
                    ["sms", "whatsapp"],
                    now - timedelta(seconds=oldest[i]),
                    now - timedelta(seconds=newest[i]),
                    count[i],
                )
                for i in range(customers)
            ),
        )

        def rows() -> Iterator[tuple[object, ...]]:
            for n, (who, seconds) in enumerate(zip(owner, age, strict=True)):
                channel, provider = CHANNELS[n % 3]
                sent = now - timedelta(seconds=seconds)
                text = texts[n % 2000]
                yield (
                    uuid.uuid4(),
                    ids[who],
                    conv[who],
                    channel,
                    provider,
                    f"seed-{n}",
                    "phone",
                    phones[who],
                    names[who],
                    "+14155550000",
                    text,
                    text,
                    sent,
                    sent + timedelta(seconds=2),
                )

        await conn.copy_records_to_table(
            "messages",
            columns=[
                "id",
                "customer_id",
                "conversation_id",
                "channel",
                "provider",
                "provider_message_id",
                "sender_kind",
                "sender_value",
                "sender_name",
                "recipient",
                "text",
                "full_text",
                "sent_at",
                "received_at",
            ],
            records=rows(),
        )
        for statement in rebuild:
            await conn.execute(statement)
        await conn.execute("VACUUM (ANALYZE) customers, identities, conversations")
        await conn.execute("VACUUM (ANALYZE) messages")
    finally:
        await conn.close()
    return Seeded(ids, phones, ids[0], messages)


async def _drop_keys_and_indexes(
    conn: asyncpg.Connection, tables: list[str]
) -> list[str]:
    """Drop the tables' keys, indexes and the foreign keys from or to them; return
    the statements that rebuild them.

    Definitions come from the catalog (pg_get_constraintdef, pg_indexes), so the
    rebuilt schema is the migrated one: keys first, then indexes, then foreign keys.
    """
    constraints = await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, contype::text AS contype,"
        " pg_get_constraintdef(oid) AS def FROM pg_constraint"
        " WHERE (contype IN ('p', 'u') AND conrelid = ANY($1::regclass[]))"
        " OR (contype = 'f' AND (conrelid = ANY($1::regclass[])"
        " OR confrelid = ANY($1::regclass[])))",
        tables,
    )
    names = {c["conname"] for c in constraints}
    indexes = [
        row
        for row in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = 'public' AND tablename = ANY($1::text[])",
            tables,
        )
        if row["indexname"] not in names
    ]
    keys = [c for c in constraints if c["contype"] != "f"]
    fks = [c for c in constraints if c["contype"] == "f"]
    for c in fks + keys:
        await conn.execute(f'ALTER TABLE {c["tbl"]} DROP CONSTRAINT "{c["conname"]}"')
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["indexname"]}"')
    return (
        [
            f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}'
            for c in keys
        ]
        + [index["indexdef"] for index in indexes]
        + [
            f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}'
            for c in fks
        ]
    )
