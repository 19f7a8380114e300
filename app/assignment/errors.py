"""Problems the assignment use cases raise; each carries its RFC 9457 type."""

from __future__ import annotations

from app.errors import NotFound, Problem


class AgentNotFound(NotFound):
    pass


class OfferNotFound(NotFound):
    pass


class OfferNotPending(Problem):
    """The offer was answered, withdrawn or expired: nothing to accept any more."""

    status, title, slug = 409, "Offer no longer pending", "offer-not-pending"


class TransferRefused(Problem):
    """The target agent cannot take the conversation (capacity, presence, closed)."""

    status, title, slug = 409, "Transfer refused", "transfer-refused"
