"""All SQL for conversations and messages."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from raylane.core.copilot.models import Conversation, Message
from raylane.infra.db.repository import Repository


class ConversationRepository(Repository[Conversation]):
    model = Conversation
    newest_first = True

    async def history(self, conversation_id: uuid.UUID, *, limit: int) -> list[Message]:
        """The last ``limit`` messages, oldest first."""
        stmt = (
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return list(reversed(list(await self._session.scalars(stmt))))

    async def add_messages(self, *messages: Message) -> None:
        """Store a turn's messages in one flush."""
        self._session.add_all(messages)
        await self._session.flush()
