"""OpenAI-compatible chat completions, authenticated by Raylane API keys.

Models: the LLM's own name (plain chat, guarded) and ``copilot/<project id>`` (answers from the
project's collections). The official ``openai`` client works unchanged with
``base_url=<raylane>/v1`` and ``api_key=rl_...``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from raylane.core.copilot.engine import ChatRequest, Event
from raylane.core.projects.service import project_service
from raylane.core.rbac import Permission
from raylane.errors import NotFound
from raylane.schemas.copilot import OpenAIChatRequest, openai_model_list, question_index
from raylane.serve.chat import drain, generation, started
from raylane.serve.deps import PlatformDep, ReleasedActorDep, SessionDep, require
from raylane.serve.errors import stream_error
from raylane.serve.routing import Route

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=Route)
COPILOT_PREFIX = "copilot/"


@router.get("/models", dependencies=[require(Permission.COPILOT_USE)])
async def list_models(session: SessionDep, platform: PlatformDep) -> dict[str, Any]:
    """The LLM, and one ``copilot/<project id>`` model per project."""
    projects = await project_service.page(session, limit=200, cursor=None)
    names = [platform.copilot.model_name] + [f"{COPILOT_PREFIX}{p.id}" for p in projects.items]
    return openai_model_list(names, created=int(time.time()))


def _project(model: str, llm_model: str) -> uuid.UUID | None:
    if model == llm_model:
        return None
    if model.startswith(COPILOT_PREFIX):
        try:
            return uuid.UUID(model[len(COPILOT_PREFIX) :])
        except ValueError:
            pass
    raise NotFound("model", model)


@router.post("/chat/completions", dependencies=[require(Permission.COPILOT_USE)])
async def create_chat_completion(
    data: OpenAIChatRequest, actor: ReleasedActorDep, platform: PlatformDep
) -> Any:
    """Chat completions in OpenAI's format, streamed or not.

    Every message is checked by the input guardrails. ``system`` and ``developer`` messages are
    the client's text: they reach the model as user turns after the platform's own system
    prompt, never in its place; ``tool`` and other roles are refused (422). The question is the
    last ``user`` message; the others are history, in order. A missing project
    is a 404 from the engine's first transaction."""
    project_id = _project(data.model, platform.copilot.model_name)
    turns = [{"role": m.role, "content": m.content or ""} for m in data.messages]
    at = question_index([t["role"] for t in turns])  # the body's validator found one
    request = ChatRequest(
        question=turns[at]["content"],
        project_id=project_id,
        history=turns[:at] + turns[at + 1 :],
        store=False,
        params=generation(
            platform, data.max_completion_tokens or data.max_tokens, data.temperature, data.stops()
        ),
    )
    head, rest = await started(platform, actor, request)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if data.stream:
        return StreamingResponse(
            _chunks(ident, created, data.model, head, rest, actor.request_id),
            media_type="text/event-stream",
        )
    out = await drain(head, rest)
    usage = out["usage"]
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": data.model,
        "choices": [
            {
                "index": 0,
                "finish_reason": out["finish_reason"],
                "message": {"role": "assistant", "content": out["answer"]},
            }
        ],
        "usage": usage | {"total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
    }


async def _chunks(
    ident: str,
    created: int,
    model: str,
    head: list[Event],
    rest: AsyncGenerator[Event, None],
    request_id: str | None,
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    async def events() -> AsyncIterator[Event]:
        for event in head:
            yield event
        async for event in rest:
            yield event

    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in events():
            if event["type"] == "token":
                yield chunk({"content": event["text"]})
            elif event["type"] == "done":
                yield chunk({}, event["finish_reason"])
            elif event["type"] == "blocked":
                yield chunk({}, "content_filter")
    except Exception as exc:  # headers are gone: OpenAI's in-band error shape, then the end
        error = stream_error(exc, request_id)
        body = {"error": {"code": error["error"], "message": error["detail"]}}
        yield f"data: {json.dumps(body)}\n\n".encode()
    finally:
        await rest.aclose()  # a client gone mid-stream: release the slot, charge the tokens
    yield b"data: [DONE]\n\n"
