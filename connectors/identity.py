"""Canonical identity values: E.164 phones, lower-case emails, compact raw phones."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import replace
from email.utils import parseaddr
from typing import Final

import phonenumbers

from connectors.model import IdentityClaim, IdentityKind

# What people and providers write between the digits of a number: white space,
# ASCII and Unicode hyphens and dashes (U+2010-2015), dots, slashes and brackets.
_PHONE_SEPARATORS: Final = re.compile(r"[\s\-\u2010-\u2015.\u00b7/()\[\]{}]+")
_DIGITS: Final = re.compile(r"\+?[0-9]+")
_WHITESPACE: Final = re.compile(r"\s+")


# A pure function of its arguments and the ingest hot path's dearest step after the
# database (libphonenumber parse + validation, ~0.1 ms): returning customers hit this.
@functools.lru_cache(maxsize=65_536)
def canonical_phone(raw: str, default_region: str) -> tuple[IdentityKind, str]:
    """E.164 for a valid number; anything else (short codes, junk) is `phone_raw`."""
    cleaned = raw.strip()
    try:
        number = phonenumbers.parse(cleaned, default_region)
    except phonenumbers.NumberParseException:
        return IdentityKind.phone_raw, canonical_raw_phone(cleaned)
    if not phonenumbers.is_valid_number(number):
        return IdentityKind.phone_raw, canonical_raw_phone(cleaned)
    return IdentityKind.phone, phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.E164
    )


def canonical_raw_phone(raw: str) -> str:
    """A `phone_raw` value: digits only when it is a number, else trimmed text.

    "+1 (555) 01-23", "1555.0123" and "+15550123" are all "15550123": separators
    and a leading "+" go, so any way of writing the number finds it. A value with
    anything else in it (an alphanumeric sender id such as "ACME Shop") keeps its
    characters and case; only its white space is trimmed and collapsed.
    """
    # NFKC only for the test, so full-width digits count as digits.
    compact = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if _DIGITS.fullmatch(compact):
        return compact.removeprefix("+")
    return _WHITESPACE.sub(" ", raw).strip()


def canonical_email(raw: str) -> tuple[str, str | None]:
    """Lower-cased address and the display name, if the raw value had one."""
    name, address = parseaddr(raw)
    return address.strip().lower(), (name.strip() or None)


def canonical(claim: IdentityClaim, default_region: str) -> IdentityClaim:
    """The claim with its value in canonical form, so equal identities compare equal."""
    if claim.kind is IdentityKind.phone_raw:
        # Already classified (an explicit `phone_raw:` lookup): not re-parsed, so
        # a stored value always finds itself.
        return replace(claim, value=canonical_raw_phone(claim.value))
    if claim.kind is IdentityKind.phone:
        kind, value = canonical_phone(claim.value, default_region)
        return replace(claim, kind=kind, value=value)
    if claim.kind is IdentityKind.email:
        address, name = canonical_email(claim.value)
        return replace(claim, value=address, name=claim.name or name)
    return claim
