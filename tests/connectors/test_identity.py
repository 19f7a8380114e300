"""Canonical identity values: E.164 phones, compact raw phones, lower-case emails."""

from __future__ import annotations

import pytest

from connectors.identity import canonical, canonical_phone, canonical_raw_phone
from connectors.model import IdentityClaim, IdentityKind

PHONE, RAW = IdentityKind.phone, IdentityKind.phone_raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("+14155550100", (PHONE, "+14155550100"), id="e164"),
        pytest.param("(415) 555-0100", (PHONE, "+14155550100"), id="national-us"),
        pytest.param("+44 20 7946 0958", (PHONE, "+442079460958"), id="international"),
        pytest.param(" +1 415.555.0100 ", (PHONE, "+14155550100"), id="dots-padding"),
        pytest.param("72345", (RAW, "72345"), id="short-code"),
        pytest.param("+1555 0123", (RAW, "15550123"), id="invalid-spaces"),
        pytest.param("+1 (555) 01-23", (RAW, "15550123"), id="invalid-brackets-dash"),
        pytest.param("1555.0123", (RAW, "15550123"), id="invalid-dots-no-plus"),
        pytest.param("+1 [555] 01/23", (RAW, "15550123"), id="square-brackets-slash"),
        pytest.param("+1\u00a0555\u20130123", (RAW, "15550123"), id="nbsp-en-dash"),
        pytest.param(
            "+\uff11\uff15\uff15\uff15 \uff10\uff11\uff12\uff13",
            (RAW, "15550123"),
            id="full-width-digits",
        ),
        pytest.param("ACME", (RAW, "ACME"), id="alphanumeric-sender"),
        pytest.param("  ACME \t Shop ", (RAW, "ACME Shop"), id="sender-white-space"),
        pytest.param("My-Shop.de", (RAW, "My-Shop.de"), id="sender-keeps-punctuation"),
        pytest.param("555+123", (RAW, "555+123"), id="inner-plus-is-not-a-number"),
        pytest.param("", (RAW, ""), id="empty"),
    ],
)
def test_canonical_phone(raw: str, expected: tuple[IdentityKind, str]) -> None:
    assert canonical_phone(raw, "US") == expected


@pytest.mark.parametrize(
    "written",
    [
        pytest.param("+1555 0123", id="as-stored"),
        pytest.param("+1 (555) 01-23", id="brackets-dash"),
        pytest.param("1-555-0123", id="dashes-no-plus"),
        pytest.param("1.555.01.23", id="dots"),
        pytest.param(" 15550123 ", id="bare-digits"),
        pytest.param("+15550123", id="plus-digits"),
    ],
)
def test_raw_phone_written_any_way_is_one_value(written: str) -> None:
    assert canonical_raw_phone(written) == "15550123"


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        pytest.param(
            IdentityClaim(kind=PHONE, value="+1 (555) 01-23"),
            IdentityClaim(kind=RAW, value="15550123"),
            id="phone-becomes-raw",
        ),
        pytest.param(
            IdentityClaim(kind=RAW, value="2125550100"),
            IdentityClaim(kind=RAW, value="2125550100"),
            id="raw-is-not-reparsed",  # valid in the US, but classified already
        ),
        pytest.param(
            IdentityClaim(kind=RAW, value=" 1-555-0123"),
            IdentityClaim(kind=RAW, value="15550123"),
            id="raw-compacted",
        ),
        pytest.param(
            IdentityClaim(kind=IdentityKind.email, value="Ann <Ann@Example.ORG>"),
            IdentityClaim(kind=IdentityKind.email, value="ann@example.org", name="Ann"),
            id="email",
        ),
        pytest.param(
            IdentityClaim(kind=IdentityKind.chat, value=" Visitor-9 "),
            IdentityClaim(kind=IdentityKind.chat, value=" Visitor-9 "),
            id="other-kinds-untouched",
        ),
    ],
)
def test_canonical(claim: IdentityClaim, expected: IdentityClaim) -> None:
    assert canonical(claim, "US") == expected
