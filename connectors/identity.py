"""Canonical identity values: E.164 phones, lower-case emails."""

from __future__ import annotations

from dataclasses import replace
from email.utils import parseaddr

import phonenumbers

from connectors.model import IdentityClaim, IdentityKind


def canonical_phone(raw: str, default_region: str) -> tuple[IdentityKind, str]:
    """E.164 for a valid number; anything else (short codes, junk) stays `phone_raw`."""
    cleaned = raw.strip()
    try:
        number = phonenumbers.parse(cleaned, default_region)
    except phonenumbers.NumberParseException:
        return IdentityKind.phone_raw, cleaned
    if not phonenumbers.is_valid_number(number):
        return IdentityKind.phone_raw, cleaned
    return IdentityKind.phone, phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.E164
    )


def canonical_email(raw: str) -> tuple[str, str | None]:
    """Lower-cased address and the display name, if the raw value had one."""
    name, address = parseaddr(raw)
    return address.strip().lower(), (name.strip() or None)


def canonical(claim: IdentityClaim, default_region: str) -> IdentityClaim:
    """The claim with its value in canonical form, so equal identities compare equal."""
    if claim.kind in (IdentityKind.phone, IdentityKind.phone_raw):
        kind, value = canonical_phone(claim.value, default_region)
        return replace(claim, kind=kind, value=value)
    if claim.kind is IdentityKind.email:
        address, name = canonical_email(claim.value)
        return replace(claim, value=address, name=claim.name or name)
    return claim
