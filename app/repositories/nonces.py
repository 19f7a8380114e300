"""Single-use webhook values (Mailgun's token), recorded with the message they carried."""

from __future__ import annotations

import asyncpg

_RECORD = (
    "INSERT INTO webhook_nonces (connector, nonce) VALUES ($1, $2)"
    " ON CONFLICT DO NOTHING RETURNING 1"
)


class Nonces:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(self, connector: str, nonce: str) -> bool:
        """True the first time a nonce is seen; False for a replay."""
        return await self._conn.fetchval(_RECORD, connector, nonce) is not None
