"""Copilot conversations: a project's conversations and one conversation's messages."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from raylane.core.copilot.service import conversation_service
from raylane.core.rbac import Permission
from raylane.schemas.common import Page
from raylane.schemas.copilot import ConversationRead
from raylane.serve.deps import PageDep, SessionDep, page_of, require
from raylane.serve.routing import Route

# Tagged with the copilot, as before: the conversations are the copilot's memory.
router = APIRouter(prefix="/api/v1", tags=["copilot"], route_class=Route)


@router.get(
    "/projects/{project_id}/copilot/conversations", dependencies=[require(Permission.COPILOT_USE)]
)
async def list_conversations(
    project_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[ConversationRead]:
    result = await conversation_service.page(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, ConversationRead)  # type: ignore[no-any-return]


@router.get("/conversations/{conversation_id}", dependencies=[require(Permission.COPILOT_USE)])
async def get_conversation(conversation_id: uuid.UUID, session: SessionDep) -> ConversationRead:
    """A conversation with its messages and the citations of each answer."""
    conversation, messages = await conversation_service.get(
        session, conversation_id=conversation_id
    )
    read = ConversationRead.model_validate(conversation)
    return read.model_copy(update={"messages": messages})
