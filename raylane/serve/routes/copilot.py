"""The copilot's chat route: answers with citations from a project's collections."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from raylane.core.copilot.engine import ChatRequest, Event
from raylane.core.rbac import Permission
from raylane.schemas.copilot import ChatAnswer, ChatBody, question_index
from raylane.serve.chat import drain, generation, started
from raylane.serve.deps import PlatformDep, ReleasedActorDep, require
from raylane.serve.errors import stream_error
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["copilot"], route_class=Route)


def sse(
    head: list[Event], rest: AsyncGenerator[Event, None], request_id: str | None
) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            for event in head:
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            async for event in rest:
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
        except Exception as exc:  # headers are gone: report in-band, then end the stream
            error = {"type": "error"} | stream_error(exc, request_id)
            yield f"event: error\ndata: {json.dumps(error)}\n\n".encode()
        finally:
            await rest.aclose()  # a client gone mid-stream: release the slot, charge the tokens

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/projects/{project_id}/copilot/chat",
    dependencies=[require(Permission.COPILOT_USE)],
    response_model=ChatAnswer,
)
async def chat(
    project_id: uuid.UUID,
    data: ChatBody,
    actor: ReleasedActorDep,
    platform: PlatformDep,
) -> Any:
    """Answer with citations from the project's collections; ``stream`` gives Server-Sent Events
    (``citations``, ``token``…, ``done``; or ``blocked`` / ``error``).

    The question is the last ``user`` message; every other message is history, in order.

    Every message is checked by the input guardrails; a ``system`` message is the client's text
    and reaches the model as a user turn after the platform's prompt."""
    at = question_index([m.role for m in data.messages])  # the body's validator found one
    request = ChatRequest(
        question=data.messages[at].content,
        project_id=project_id,
        conversation_id=data.conversation_id,
        history=[m.model_dump() for i, m in enumerate(data.messages) if i != at],
        collection_ids=data.collection_ids,
        top_k=data.top_k,
        params=generation(platform, data.max_tokens, data.temperature, data.stop),
        answer_mode=data.answer_mode,
    )
    head, rest = await started(platform, actor, request)
    if data.stream:
        return sse(head, rest, actor.request_id)
    return ChatAnswer.model_validate(await drain(head, rest))
