"""Which customer a message belongs to: atomic first contact, linked identities, merges."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from app.events import EventConfig
from app.merging import merge_customers
from app.repositories.customers import Customers, LockedCustomer
from connectors.model import IdentityClaim, InboundMessage


async def resolve_customer(
    conn: asyncpg.Connection, msg: InboundMessage, now: datetime, events: EventConfig
) -> LockedCustomer:
    """The sender's customer, row-locked, after linking the message's identities."""
    customers = Customers(conn)
    customer = await _find_or_create(customers, msg.sender)
    for claim in msg.linked_identities:
        customer = await _link(conn, customers, customer, claim, now, events, msg)
    return customer


async def _find_or_create(customers: Customers, claim: IdentityClaim) -> LockedCustomer:
    """Atomic first contact: concurrent twins end up on the one customer that won."""
    while True:
        found = await customers.lock_by_identity(claim)
        if found is not None:
            return found
        created = await customers.create_with_identity(claim)
        if created is not None:
            return created


async def _link(
    conn: asyncpg.Connection,
    customers: Customers,
    customer: LockedCustomer,
    claim: IdentityClaim,
    now: datetime,
    events: EventConfig,
    msg: InboundMessage,
) -> LockedCustomer:
    """Attach a linked identity; a verified one owned elsewhere merges the two customers."""
    if not claim.verified:
        await customers.add_claim(customer.id, claim)
        return customer
    if await customers.add_verified(customer.id, claim):
        return customer
    owner_id = await customers.verified_owner(claim)
    if owner_id is None or owner_id == customer.id:
        return customer
    owner = await customers.lock(owner_id)
    if owner.id == customer.id:
        return customer
    who = (
        "verified chat visitor"
        if msg.channel.value == "chat"
        else f"{msg.channel.value} sender's own contact"
    )
    reason = f"{who} claimed {claim.kind.value} {claim.value}"
    # The customer that already holds the verified identity survives.
    await merge_customers(conn, owner.id, customer.id, reason, now, events)
    return await customers.lock(owner.id)  # re-read: the merge may close a conversation
