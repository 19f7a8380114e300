"""The OpenAPI document is the truth: schemathesis, all checks, against the real app.

Two runs over /v1 and the webhooks, each operation its own test with a fresh
database: one with every value generated (mostly 401/404/422 answers), one with
generated UUIDs in paths (and the merge body) pinned to seeded rows, so 200 bodies,
the 307 redirect and the 409 are checked against the schema too.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.config import SchemathesisConfig

from app.main import create_app
from app.settings import Settings
from tests.conftest import AUTH, SECRETS
from tests.payloads import post, sms, whatsapp

MEDIA_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
# Bounded and seeded, so a run is the same run everywhere and CI stays fast: the
# coverage phase adds its deterministic cases to these generated ones.
_BOUNDED = hypothesis.settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    # One app and one seeded database per operation is the point of the fixture.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _document() -> dict[str, object]:
    """The app's OpenAPI document; generating it needs no database."""
    unused = Settings(_env_file=None, database_url="postgresql://unused@/unused")  # type: ignore[call-arg]
    return create_app(unused).openapi()


class _Delegate:
    """The ASGI app schemathesis drives (it runs the lifespan): the current test's app.

    The schema is loaded at collection, the app per test from its `settings`; the lazy
    `schemathesis.pytest.from_fixture` does not run on pytest 9.2 (it sets
    `Item._nodeid`, which pytest no longer has).
    """

    app = None

    async def __call__(self, scope, receive, send):
        assert self.app is not None, "use the contract_app fixture"
        await self.app(scope, receive, send)


def _schema(path_regex: str) -> schemathesis.BaseSchema:
    # Explicit config (no schemathesis.toml discovery): all checks are on by default;
    # the token goes through the document's security scheme, so schemathesis knows
    # which requests it sends without one (ignored_auth, negative cases).
    token = SECRETS["api_tokens"][0]
    config = SchemathesisConfig.from_dict(
        {"auth": {"openapi": {"HTTPBearer": {"bearer": token}}}}
    )
    schema = schemathesis.openapi.from_dict(_document(), config=config)
    schema.app = _APP
    return schema.include(path_regex=path_regex)


_APP = _Delegate()
generated = _schema("^/(v1|webhooks)/")
seeded = _schema(r"^/v1/.*\{")


@pytest.fixture
def contract_app(settings):
    _APP.app = create_app(settings)
    yield
    _APP.app = None


@dataclass(frozen=True)
class Rows:
    customer_id: str
    other_customer_id: str
    conversation_id: str
    attachment_id: str
    cursor: str

    def pin(self, case) -> None:
        """Swap generated canonical UUIDs for seeded ids and a generated cursor for an
        issued one; anything else stays, so a negative case stays negative where it
        was. Ids and cursors are both server-issued: any UUID or string fits the
        schema, and the server answers 404 or 400 (documented) to ones it never issued.
        """
        ids = {
            "customer_id": self.customer_id,
            "conversation_id": self.conversation_id,
            "attachment_id": self.attachment_id,
        }
        for name, value in case.path_parameters.items():
            if name in ids and _is_uuid(value):
                case.path_parameters[name] = ids[name]
        if case.query and isinstance(case.query.get("before"), str):
            case.query["before"] = self.cursor
        body = case.body
        if isinstance(body, dict) and _is_uuid(body.get("merge_customer_id")):
            body["merge_customer_id"] = self.other_customer_id
        if case.path.endswith("/messages") and isinstance(body, dict):
            # Which channels the customer has and which keys were used are server
            # state, like ids: a seeded reply answers on the conversation's own
            # channel with a key never used before (reuse and absent channels are
            # documented 422s, covered by tests/api/test_replies.py).
            # Only schema-valid values are swapped: a negative case stays negative.
            if isinstance(body.get("channel"), str) and body["channel"] in _CHANNELS:
                body["channel"] = None
            if _is_key(body.get("client_message_id")):
                body["client_message_id"] = uuid.uuid4().hex
            for name in list(case.headers or {}):
                if name.lower() == "idempotency-key" and _is_key(case.headers[name]):
                    case.headers[name] = uuid.uuid4().hex


_CHANNELS = {"sms", "whatsapp", "email", "messenger", "instagram", "chat", "telegram"}
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _is_key(value: object) -> bool:
    return isinstance(value, str) and _KEY.fullmatch(value) is not None


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None


async def _customer(client, phone: str) -> dict:
    found = await client.get("/v1/customers", params={"phone": phone}, headers=AUTH)
    [customer] = found.json()["items"]
    return customer


@pytest.fixture
async def rows(client) -> Rows:
    """Two customers through signed webhooks; the first has two messages (so a next
    page), a conversation, routing decisions and provider-hosted media."""
    await post(client, sms("+14155550120", "photo", media=((MEDIA_URL, "image/jpeg"),)))
    await post(client, sms("+14155550120", "did you get it?"))
    await post(client, whatsapp("4915112345670", "Hallo"))
    first = await _customer(client, "+14155550120")
    other = await _customer(client, "+4915112345670")
    timeline = await client.get(
        f"/v1/customers/{first['id']}/timeline", params={"limit": 1}, headers=AUTH
    )
    [latest] = timeline.json()["items"]
    older = await client.get(
        f"/v1/customers/{first['id']}/timeline",
        params={"before": timeline.json()["next_cursor"]},
        headers=AUTH,
    )
    [photo] = older.json()["items"]
    return Rows(
        customer_id=first["id"],
        other_customer_id=other["id"],
        conversation_id=latest["conversation_id"],
        attachment_id=photo["attachments"][0]["id"],
        cursor=timeline.json()["next_cursor"],
    )


@generated.parametrize()
@_BOUNDED
def test_generated_requests_match_the_schema(case, contract_app):
    case.call_and_validate()


@seeded.parametrize()
@_BOUNDED
def test_requests_on_seeded_rows_match_the_schema(case, contract_app, rows):
    rows.pin(case)
    case.call_and_validate()


def test_every_error_is_a_documented_problem():
    document = _document()
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        if path.startswith(("/v1/", "/webhooks/"))
        for method, operation in methods.items()
    ]
    undocumented = [
        (name, status)
        for name, operation in operations
        for status, response in operation["responses"].items()
        if int(status) >= 400
        and set(response.get("content", {})) != {"application/problem+json"}
    ]
    without_401 = [
        name
        for name, operation in operations
        if name.split()[1].startswith("/v1/") and "401" not in operation["responses"]
    ]

    assert (undocumented, without_401) == ([], [])
    assert {"Problem", "ValidationProblem"} <= set(document["components"]["schemas"])
    assert "HTTPValidationError" not in str(document)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param(
            "DELETE", f"/v1/customers/{uuid.uuid4()}", "GET, PATCH", id="customer"
        ),
        pytest.param("PUT", "/webhooks/meta", "GET, POST", id="meta"),
        pytest.param("GET", "/v1/routing/rules/reload", "POST", id="single"),
    ],
)
async def test_405_allows_every_method_of_the_path(client, method, path, allow):
    response = await client.request(method, path, headers=AUTH)

    assert (response.status_code, response.headers["allow"]) == (405, allow)
    assert response.headers["content-type"] == "application/problem+json"
