"""Customer resource: shape, edits, lookups, provider-hosted attachments."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import text

from tests.conftest import AUTH
from tests.payloads import post, sms, whatsapp


async def _only_customer(client, **query):
    [customer] = (await client.get("/v1/customers", params=query, headers=AUTH)).json()[
        "items"
    ]
    return customer


async def test_customer_document_and_patch(client):
    await post(client, whatsapp("4915112345678", "Hallo", name="Jonas Weber"))
    customer = await _only_customer(client, phone="+49 1511 2345678")

    patched = await client.patch(
        f"/v1/customers/{customer['id']}",
        headers=AUTH,
        json={"tags": ["vip", "de"], "attributes": {"crm_id": 42}},
    )
    renamed = await client.patch(
        f"/v1/customers/{customer['id']}",
        headers=AUTH,
        json={"display_name": "J. Weber"},
    )

    assert set(customer) == {
        "id",
        "display_name",
        "identities",
        "tags",
        "attributes",
        "created_at",
        "merged_from",
    }
    assert customer["display_name"] == "Jonas Weber"
    assert patched.json()["tags"] == ["vip", "de"]
    assert renamed.json() | {"created_at": None} == {
        "id": customer["id"],
        "display_name": "J. Weber",
        "identities": [{"kind": "phone", "value": "+4915112345678", "verified": True}],
        "tags": ["vip", "de"],
        "attributes": {"crm_id": 42},
        "created_at": None,
        "merged_from": [],
    }


async def test_patch_rejects_unknown_fields_and_unknown_customers(client):
    await post(client, sms("+14155550111", "x"))
    customer = await _only_customer(client, phone="+14155550111")

    unknown_field = await client.patch(
        f"/v1/customers/{customer['id']}", headers=AUTH, json={"id": str(uuid.uuid4())}
    )
    unknown_customer = await client.get(f"/v1/customers/{uuid.uuid4()}", headers=AUTH)

    assert unknown_field.status_code == 422
    assert unknown_customer.status_code == 404
    assert unknown_customer.headers["content-type"] == "application/problem+json"


async def test_lookup_needs_exactly_one_well_formed_identity(client):
    none_given = await client.get("/v1/customers", headers=AUTH)
    two_given = await client.get(
        "/v1/customers", params={"email": "a@b.c", "phone": "1"}, headers=AUTH
    )
    bad_kind = await client.get(
        "/v1/customers", params={"identity": "fax:123"}, headers=AUTH
    )
    nobody = await client.get(
        "/v1/customers", params={"email": "nobody@example.com"}, headers=AUTH
    )

    assert (none_given.status_code, two_given.status_code, bad_kind.status_code) == (
        400,
        400,
        400,
    )
    assert nobody.json() == {"items": []}


async def test_twilio_media_are_references_redirected_to_the_provider(client):
    media_url = (
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/"
        "ME0123456789abcdef0123456789abcdef"
    )
    await post(client, sms("+14155550112", "photo", media=((media_url, "image/jpeg"),)))
    customer = await _only_customer(client, phone="+14155550112")
    timeline = (
        await client.get(f"/v1/customers/{customer['id']}/timeline", headers=AUTH)
    ).json()
    [attachment] = timeline["items"][0]["attachments"]

    download = await client.get(f"/v1/attachments/{attachment['id']}", headers=AUTH)

    assert attachment["url"] == media_url
    assert attachment["content_type"] == "image/jpeg"
    assert download.status_code == 307
    assert download.headers["location"] == media_url


async def test_a_patch_racing_a_merge_answers_200_or_308_never_500(client):
    """PATCH locks the row; a merge of that customer waits for it, or wins first."""
    for round_ in range(8):
        await post(client, sms(f"+1415555{round_:02d}01", "keep me"))
        await post(client, sms(f"+1415555{round_:02d}02", "merge me"))
        keep = await _only_customer(client, phone=f"+1415555{round_:02d}01")
        gone = await _only_customer(client, phone=f"+1415555{round_:02d}02")
        patching = client.patch(
            f"/v1/customers/{gone['id']}",
            headers=AUTH,
            json={"tags": [f"round-{round_}"]},
        )
        merging = client.post(
            f"/v1/customers/{keep['id']}/merge",
            headers=AUTH,
            json={"merge_customer_id": gone["id"]},
        )
        if round_ % 2:  # either may start first
            merge, patch = await asyncio.gather(merging, patching)
        else:
            patch, merge = await asyncio.gather(patching, merging)
        assert merge.status_code == 200, merge.text
        assert patch.status_code in {200, 308}, patch.text
        if patch.status_code == 308:
            assert patch.headers["location"] == f"/v1/customers/{keep['id']}"
        else:  # the PATCH came first: the survivor absorbed its tag
            assert f"round-{round_}" in merge.json()["tags"]


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(
            '{"attributes": ' + json.dumps(_nested(300)) + "}", 422, id="depth-300"
        ),
        pytest.param(
            '{"attributes": ' + "[" * 5000 + "]" * 5000 + "}", 400, id="depth-5000"
        ),
        pytest.param('{"attributes": {"score": NaN}}', 422, id="nan"),
        pytest.param('{"attributes": {"score": Infinity}}', 422, id="infinity"),
        pytest.param('{"attributes": {"note": "a\\u0000b"}}', 422, id="nul-in-value"),
        pytest.param('{"attributes": {"a\\u0000": 1}}', 422, id="nul-in-key"),
        pytest.param('{"attributes": {"note": "\\ud800"}}', 422, id="lone-surrogate"),
        pytest.param('{"display_name": "Ana\\u0000"}', 422, id="nul-in-name"),
        pytest.param('{"tags": ["vip\\u0000"]}', 422, id="nul-in-tag"),
        pytest.param('{"tags": ["' + "t" * 101 + '"]}', 422, id="tag-too-long"),
        pytest.param(
            '{"attributes": {"blob": "' + "x" * (70 * 1024) + '"}}', 422, id="too-large"
        ),
    ],
)
async def test_a_patch_that_could_not_be_stored_or_read_back_is_refused(
    client, body, status
):
    await post(client, sms("+14155550177", "hi"))
    customer = await _only_customer(client, phone="+14155550177")

    response = await client.patch(
        f"/v1/customers/{customer['id']}",
        headers=AUTH | {"Content-Type": "application/json"},
        content=body,
    )
    after = await client.get(f"/v1/customers/{customer['id']}", headers=AUTH)

    # 400 when the body cannot even be decoded (FastAPI's parser gives up), else 422
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert after.status_code == 200
    assert after.json() == customer  # nothing was written


async def test_phone_lookup_finds_an_invalid_number_written_any_way(client):
    # libphonenumber rejects +1 555 0123 (too short), so it is stored as phone_raw.
    response = await post(client, sms("+1555 0123", "hello from a bad number"))
    assert response.status_code == 200

    found = [
        (await _only_customer(client, phone=written))["id"]
        for written in (
            "+1555 0123",
            "+1 (555) 01-23",
            "1-555-0123",
            "1.555.01.23",
            "15550123",
            " +1 [555] 0123 ",
        )
    ]
    by_identity = await _only_customer(client, identity="phone_raw:+1 555-0123")

    assert len(set(found)) == 1
    assert by_identity["id"] == found[0]
    assert by_identity["identities"] == [
        {"kind": "phone_raw", "value": "15550123", "verified": True}
    ]


def _migration(name: str):
    path = Path(__file__).parents[2] / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _upgrade_with(module):
    def run(connection) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            module.upgrade()

    return run


async def test_migration_0003_rewrites_stored_phone_raw_values(client, engine):
    ann, bob, shop = (uuid.uuid4() for _ in range(3))
    rows = [  # (customer, value as stored before 0003, verified), oldest first
        (ann, "+1555 0123", True),
        (bob, "1-555-0123", True),  # collides with Ann's: becomes Bob's claim
        (ann, "(1555) 0123", True),  # Ann holds the value already: deleted
        (bob, "+1 555 0123", False),  # Bob has that claim now: deleted
        (shop, "  ACME   Shop ", True),
    ]
    async with engine.begin() as conn:
        for customer in (ann, bob, shop):
            await conn.execute(
                text("INSERT INTO customers (id) VALUES (:id)"), {"id": customer}
            )
        for minute, (customer, value, verified) in enumerate(rows):
            await conn.execute(
                text(
                    "INSERT INTO identities (customer_id, kind, value, verified,"
                    " created_at) VALUES (:customer, 'phone_raw', :value, :verified,"
                    " '2026-01-01T00:00:00Z'::timestamptz + make_interval(mins => :m))"
                ),
                {
                    "customer": customer,
                    "value": value,
                    "verified": verified,
                    "m": minute,
                },
            )
        await conn.run_sync(_upgrade_with(_migration("0003_canonical_phone_raw")))

    by_phone = await _only_customer(client, phone="+1 (555) 01-23")
    by_sender_id = await _only_customer(client, identity="phone_raw:ACME Shop")
    bob_doc = (await client.get(f"/v1/customers/{bob}", headers=AUTH)).json()

    assert by_phone["id"] == str(ann)
    assert by_phone["identities"] == [
        {"kind": "phone_raw", "value": "15550123", "verified": True}
    ]
    assert by_sender_id["id"] == str(shop)
    assert bob_doc["identities"] == [
        {"kind": "phone_raw", "value": "15550123", "verified": False}
    ]
