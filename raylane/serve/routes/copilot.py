from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from raylane.core.copilot.engine import ChatRequest, Event
from raylane.core.copilot.service import conversation_service
from raylane.core.quotas.service import usage_report
from raylane.core.quotas.slots import ChatSlots
from raylane.core.rbac import Actor, Permission
from raylane.errors import GuardrailBlocked
from raylane.infra.llm.base import GenerationParams
from raylane.infra.metrics import LLM_TOKENS
from raylane.schemas.common import Page
from raylane.schemas.copilot import ChatAnswer, ChatBody, ConversationRead, UsageRead
from raylane.serve.deps import (
    ActorDep,
    PageDep,
    PlatformDep,
    ReleasedActorDep,
    SessionDep,
    page_of,
    require,
)
from raylane.serve.errors import stream_error
from raylane.serve.platform import Platform
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["copilot"], route_class=Route)
STARTED = {"token", "done", "blocked"}


def generation(
    platform: Platform, max_tokens: int | None, temperature: float | None, stop: list[str]
) -> GenerationParams:
    llm = platform.settings.llm
    wanted = max_tokens or llm.default_max_tokens
    return GenerationParams(
        min(wanted, llm.max_tokens_limit), stop, 0.2 if temperature is None else temperature
    )


def count_tokens(actor: Actor, event: Event) -> Event:
    """Token metrics are kept here, in the API process that serves /metrics."""
    if event["type"] == "done":
        org = str(actor.organization_id)
        LLM_TOKENS.labels(organization=org, direction="input").inc(event["usage"]["prompt_tokens"])
        LLM_TOKENS.labels(organization=org, direction="output").inc(
            event["usage"]["completion_tokens"]
        )
    return event


def _slots(platform: Platform) -> ChatSlots:
    cfg = platform.settings.copilot
    return ChatSlots(
        platform.redis,  # type: ignore[arg-type]
        limit=cfg.max_concurrent_per_org,
        lease_s=cfg.slot_lease_s,
        retry_after_s=cfg.busy_retry_after_s,
    )


async def _events(
    platform: Platform, actor: Actor, request: ChatRequest
) -> AsyncGenerator[Event, None]:
    """The chat's events while holding one of the organization's chat slots."""
    async with _slots(platform).hold(actor.organization_id):
        chat = platform.copilot.chat(actor, request)
        try:
            async for event in chat:
                yield count_tokens(actor, event)
        finally:
            await chat.aclose()  # a client gone: the engine charges what was generated


async def started(
    platform: Platform, actor: Actor, request: ChatRequest
) -> tuple[list[Event], AsyncGenerator[Event, None]]:
    """Run the chat until the model has produced something (or refused), so that quota,
    not-found, busy and backend failures still answer with a proper status, not a broken
    stream. The caller holds no database connection (see ``ReleasedActorDep``)."""
    await platform.quota.check(actor.organization_id)
    events = _events(platform, actor, request)
    head: list[Event] = []
    try:
        async for event in events:
            head.append(event)
            if event["type"] in STARTED:
                break
    except BaseException:
        await events.aclose()
        raise
    return head, events


async def drain(head: list[Event], rest: AsyncGenerator[Event, None]) -> dict[str, Any]:
    """A whole answer (not streamed); the slot is released however this ends."""
    try:
        return collect(head, [e async for e in rest])
    finally:
        await rest.aclose()


def collect(head: list[Event], rest: list[Event]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "answer": "",
        "citations": [],
        "conversation_id": None,
        "message_id": None,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
        "finish_reason": "stop",
    }
    for event in head + rest:
        kind = event["type"]
        if kind == "token":
            out["answer"] += event["text"]
        elif kind == "citations":
            out["citations"] = event["citations"]
        elif kind == "conversation":
            out["conversation_id"] = event["conversation_id"]
        elif kind == "done":
            out.update(
                usage=event["usage"],
                finish_reason=event["finish_reason"],
                message_id=event["message_id"],
            )
        elif kind == "blocked":
            raise GuardrailBlocked(event["detail"] + f" ({', '.join(event['detectors'])})")
    return out


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

    Every message is checked by the input guardrails; a ``system`` message is the client's text
    and reaches the model as a user turn after the platform's prompt."""
    request = ChatRequest(
        question=data.messages[-1].content,
        project_id=project_id,
        conversation_id=data.conversation_id,
        history=[m.model_dump() for m in data.messages[:-1]],
        collection_ids=data.collection_ids,
        top_k=data.top_k,
        params=generation(platform, data.max_tokens, data.temperature, data.stop),
    )
    head, rest = await started(platform, actor, request)
    if data.stream:
        return sse(head, rest, actor.request_id)
    return ChatAnswer.model_validate(await drain(head, rest))


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


@router.get("/usage", dependencies=[require(Permission.USAGE_READ)])
async def get_usage(
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> UsageRead:
    """Tokens and requests per day, and today's quota."""
    report = await usage_report(
        session, quota=platform.quota, organization_id=actor.organization_id, days=days
    )
    return UsageRead.model_validate(report, from_attributes=True)
