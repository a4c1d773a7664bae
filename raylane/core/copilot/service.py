"""Reading conversations (writing them is the engine's job, as part of a chat turn)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.copilot.models import Conversation, Message
from raylane.core.copilot.repository import ConversationRepository
from raylane.core.projects.service import project_service
from raylane.errors import NotFound
from raylane.infra.db.paging import Page


class ConversationService:
    async def get(
        self, session: AsyncSession, *, conversation_id: uuid.UUID
    ) -> tuple[Conversation, list[Message]]:
        """A conversation and all its messages, oldest first.

        Raises:
            NotFound: missing or another organization's.
        """
        conversation = await ConversationRepository(session).get(conversation_id)
        if conversation is None:
            raise NotFound("conversation", conversation_id)
        return conversation, await ConversationRepository(session).history(
            conversation_id, limit=1000
        )

    async def page(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Conversation]:
        await project_service.get(session, project_id=project_id)
        return await ConversationRepository(session).page(
            {"project_id": project_id}, limit=limit, cursor=cursor
        )


conversation_service = ConversationService()
