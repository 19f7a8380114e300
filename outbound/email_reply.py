"""What an email reply carries whichever way it is sent (Mailgun or SMTP).

Threading follows RFC 5322 section 3.6.4: our own Message-ID `<{message_id}@{domain}>`
(so the customer's mail client threads its answer under ours and inbound can tell
an answer to us by the domain), In-Reply-To the answered message's id, and
References that message's References with its own id appended.

Subjects (RFC 5322 section 3.6.5) get one `Re: `. Leading reply prefixes are
dropped first, case-insensitively and repeatedly, so `RE: re: Invoice` becomes
`Re: Invoice`. Handled: `Re`, with an optional counter `Re[2]` / `Re(2)`, and the
translations Outlook and Thunderbird commonly write: `AW` (German), `SV`
(Scandinavian), `Antw` (Dutch). `Fwd:` is kept: a reply to a forward is
`Re: Fwd: ...`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from outbound.model import Delivery, MediaLink, SendRefused

_REPLY_PREFIX: Final = re.compile(
    r"\s*(?:re|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*", re.IGNORECASE
)
# dot-atom-text (RFC 5322 section 3.2.3): what may stand on each side of the "@"
_DOT_ATOM: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
# Long threads: keep the root and the most recent ids, as mail clients do, so the
# header stays a sane size (RFC 5322 section 3.6.4 allows trimming References).
MAX_REFERENCES: Final = 20


def reply_subject(subject: str | None) -> str:
    """`Re: <subject>` with one prefix, whitespace (and any line break) collapsed."""
    flat = " ".join((subject or "").split())
    while match := _REPLY_PREFIX.match(flat):
        flat = flat[match.end() :]
    return f"Re: {flat}" if flat else "Re:"


def own_message_id(message_id: str, domain: str) -> str:
    """Our Message-ID header value `<{message_id}@{domain}>`; refuses what is not an id."""
    for part, name in ((message_id, "message id"), (domain, "email domain")):
        if not _DOT_ATOM.fullmatch(part):
            raise SendRefused(f"the {name} {part!r} cannot stand in a Message-ID")
    return f"<{message_id}@{domain}>"


def in_reply_to(delivery: Delivery) -> str | None:
    """The answered message's id in angle brackets, when there is a usable one."""
    parent = _bare(delivery.reply_to) if delivery.reply_to else None
    return f"<{parent}>" if parent else None


def references(delivery: Delivery) -> tuple[str, ...]:
    """The thread's ids in angle brackets, oldest first, the answered one last."""
    parent = _bare(delivery.reply_to) if delivery.reply_to else None
    older = (
        bare for bare in map(_bare, delivery.references) if bare and bare != parent
    )
    ids = [*_unique(older), *((parent,) if parent else ())]
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return tuple(f"<{bare}>" for bare in ids)


def bare_id(value: str) -> str | None:
    """A Message-ID without its angle brackets (the form inbound email stores)."""
    return _bare(value)


def body_with_links(text: str, attachments: Iterable[MediaLink]) -> str:
    """The reply text, then one line per attachment link (nothing is fetched here)."""
    lines = [
        f"- {link.filename}: {link.url}" if link.filename else f"- {link.url}"
        for link in attachments
    ]
    if not lines:
        return text
    return "\n\n".join(part for part in (text.rstrip(), "\n".join(lines)) if part)


def _bare(value: str) -> str | None:
    inner = value.strip().removeprefix("<").removesuffix(">").strip()
    if not inner or any(char.isspace() or char in "<>" for char in inner):
        return None
    return inner


def _unique(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for value in values:
        if value not in seen:
            seen.add(value)
            kept.append(value)
    return kept
