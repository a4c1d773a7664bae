"""The chat plumbing both chat routes share: the Raylane copilot route and the OpenAI-compatible
one. Each route keeps only its own wire format (Raylane SSE events or OpenAI chunks)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

from raylane.core.copilot.engine import ChatRequest, Event
from raylane.core.quotas.slots import ChatSlots
from raylane.core.rbac import Actor
from raylane.errors import GuardrailBlocked
from raylane.infra.llm.base import GenerationParams
from raylane.infra.metrics import LLM_TOKENS
from raylane.serve.platform import Platform

STARTED = {"token", "done", "blocked"}


def generation(
    platform: Platform, max_tokens: int | None, temperature: float | None, stop: list[str]
) -> GenerationParams:
    """The generation parameters of one request, capped by the platform's token limit."""
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
        platform.redis,
        limit=cfg.max_concurrent_per_org,
        lease_s=cfg.slot_lease_s,
        retry_after_s=cfg.busy_retry_after_s,
    )


Chat = Callable[[Actor, ChatRequest], AsyncGenerator[Event, None]]


async def _events(
    platform: Platform, actor: Actor, request: ChatRequest, via: Chat | None = None
) -> AsyncGenerator[Event, None]:
    """The chat's events while holding one of the organization's chat slots; ``via``: another
    way to the copilot than the platform's (an endpoint's router)."""
    async with _slots(platform).hold(actor.organization_id):
        chat = (via or platform.copilot.chat)(actor, request)
        try:
            async for event in chat:
                yield count_tokens(actor, event)
        finally:
            await chat.aclose()  # a client gone: the engine charges what was generated


async def started(
    platform: Platform, actor: Actor, request: ChatRequest, via: Chat | None = None
) -> tuple[list[Event], AsyncGenerator[Event, None]]:
    """Run the chat until the model has produced something (or refused), so that quota,
    not-found, busy and backend failures still answer with a proper status, not a broken
    stream. The caller holds no database connection (see ``ReleasedActorDep``). The quota
    is checked by the engine's reservation, before anything is written."""
    events = _events(platform, actor, request, via)
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
    """Fold a chat's events into one answer; a guardrail block becomes ``GuardrailBlocked``."""
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
