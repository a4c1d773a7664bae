"""All SQL for conversations and messages."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.copilot.models import Conversation, Message
from raylane.infra.db.paging import Page, keyset_page


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, conversation_id: uuid.UUID) -> Conversation | None:
        return await self._session.get(Conversation, conversation_id)

    async def page(
        self, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Conversation]:
        """Newest first."""
        stmt = select(Conversation).where(Conversation.project_id == project_id)
        return await keyset_page(
            self._session, stmt, Conversation.id, limit=limit, cursor=cursor, descending=True
        )

    async def history(self, conversation_id: uuid.UUID, *, limit: int) -> list[Message]:
        """The last ``limit`` messages, oldest first."""
        stmt = (
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return list(reversed(list(await self._session.scalars(stmt))))
