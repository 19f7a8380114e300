"""Why a conversation went where it went: its assignment records, oldest first."""

from __future__ import annotations

import uuid

from app.db import Database
from app.desk.conversations import ConversationNotFound
from app.repositories.assignment_log import AssignmentLog, AssignmentRecord
from app.repositories.conversations import Conversations


async def history(db: Database, conversation_id: uuid.UUID) -> list[AssignmentRecord]:
    async with db.connection() as conn:
        if await Conversations(conn).get(conversation_id) is None:
            raise ConversationNotFound(f"conversation {conversation_id} does not exist")
        return await AssignmentLog(conn).of(conversation_id)
