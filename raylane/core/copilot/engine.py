"""The copilot's one use case: guarded, cited, streamed answers.

input guardrails → retrieval over the project's collections (tenant-scoped) → context guardrails
→ prompt → LLM stream with streaming-safe output redaction → stored turn, usage and quota.
The engine gets its embedder and LLM as callables, so the same code runs in the Copilot Serve
deployment (handles) and in-process (plain uvicorn, notebooks).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from raylane.core.collections.repository import CollectionRepository
from raylane.core.collections.search import search
from raylane.core.copilot import prompt
from raylane.core.copilot.models import Conversation, Message
from raylane.core.copilot.repository import ConversationRepository
from raylane.core.db.session import Database
from raylane.core.errors import NotFound
from raylane.core.guardrails.policy import GuardrailPolicy, Stage, evaluate
from raylane.core.guardrails.service import guardrail_service, record_hits
from raylane.core.guardrails.stream import StreamRedactor
from raylane.core.llm.base import Delta, GenerationParams, Usage
from raylane.core.projects.service import project_service
from raylane.core.quotas.repository import UsageRepository
from raylane.core.quotas.service import TokenQuota
from raylane.core.rbac import Actor

Embed = Callable[[str, str], Awaitable[list[float]]]
Generate = Callable[[list[dict[str, str]], GenerationParams], AsyncIterator[Delta]]
Event = dict[str, Any]
HISTORY_TURNS = 10


@dataclass(frozen=True)
class ChatRequest:
    question: str
    project_id: uuid.UUID | None = None  # None: plain chat with the LLM, no retrieval
    conversation_id: uuid.UUID | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    collection_ids: list[uuid.UUID] = field(default_factory=list)
    top_k: int = 4
    params: GenerationParams = field(default_factory=GenerationParams)
    store: bool = True  # keep the turn in a conversation (projects only)


class CopilotEngine:
    def __init__(
        self,
        db: Database,
        *,
        embed: Embed,
        generate: Generate,
        quota: TokenQuota,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self._db, self._embed, self._generate = db, embed, generate
        self._quota, self._count = quota, count_tokens

    async def chat(self, actor: Actor, request: ChatRequest) -> AsyncIterator[Event]:
        """Events: conversation, citations, token*, then done — or blocked / error."""
        async with self._db.session(organization_id=actor.organization_id) as session:
            policy = await guardrail_service.effective(session, project_id=request.project_id)
            checked = evaluate(
                policy, request.question, stage=Stage.INPUT, token_counter=self._count
            )
            await record_hits(session, actor=actor, result=checked, project_id=request.project_id)
            if checked.blocked:
                yield _blocked(checked)
                return
            conversation, history = await self._conversation(session, actor, request)
            passages = await self._retrieve(session, request, checked.text)
            passages = await self._guard_context(session, actor, policy, request, passages)
        if conversation is not None:
            yield {"type": "conversation", "conversation_id": str(conversation)}
        yield {
            "type": "citations",
            "citations": [_citation(i, p) for i, p in enumerate(passages, 1)],
        }
        messages = prompt.build(passages, history, checked.text)
        async for event in self._answer(
            actor, request, policy, messages, passages, conversation, checked.text
        ):
            yield event

    async def _conversation(
        self, session: Any, actor: Actor, request: ChatRequest
    ) -> tuple[uuid.UUID | None, list[dict[str, str]]]:
        if request.project_id is None or not request.store:
            return None, list(request.history)
        await project_service.get(session, project_id=request.project_id)
        if request.conversation_id is None:
            conversation = Conversation(
                organization_id=actor.organization_id,
                project_id=request.project_id,
                title=request.question[:200],
                created_by=actor.user_id,
            )
            session.add(conversation)
            await session.flush()
            return conversation.id, list(request.history)
        found = await ConversationRepository(session).get(request.conversation_id)
        if found is None or found.project_id != request.project_id:
            raise NotFound("conversation", request.conversation_id)
        turns = await ConversationRepository(session).history(found.id, limit=HISTORY_TURNS)
        return found.id, [{"role": m.role, "content": m.content} for m in turns]

    async def _retrieve(
        self, session: Any, request: ChatRequest, question: str
    ) -> list[dict[str, Any]]:
        if request.project_id is None:
            return []
        ids = request.collection_ids or [
            c.id
            for c in (
                await CollectionRepository(session).page(
                    project_id=request.project_id, limit=50, cursor=None
                )
            ).items
        ]
        hits: list[dict[str, Any]] = []
        for collection_id in ids:
            hits += await search(
                session,
                collection_id=collection_id,
                query=question,
                vector=None,
                top_k=request.top_k,
                filters={},
                mode="vector",
                embed=self._embed,
            )
        hits.sort(key=lambda h: h["score"], reverse=True)
        return hits[: request.top_k]

    async def _guard_context(
        self,
        session: Any,
        actor: Actor,
        policy: GuardrailPolicy,
        request: ChatRequest,
        passages: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        kept = []
        for passage in passages:
            result = evaluate(policy, passage["text"], stage=Stage.CONTEXT)
            await record_hits(session, actor=actor, result=result, project_id=request.project_id)
            if not result.blocked:  # a poisoned passage is dropped, not passed to the model
                kept.append(passage | {"text": result.text})
        return kept

    async def _answer(
        self,
        actor: Actor,
        request: ChatRequest,
        policy: GuardrailPolicy,
        messages: list[dict[str, str]],
        passages: list[dict[str, Any]],
        conversation: uuid.UUID | None,
        question: str,
    ) -> AsyncIterator[Event]:
        params = request.params
        if policy.max_output_tokens:
            params = GenerationParams(
                min(params.max_tokens, policy.max_output_tokens), params.stop, params.temperature
            )
        redactor = StreamRedactor.from_policy(policy, stage=Stage.OUTPUT)
        raw, shown, usage, reason = [], [], Usage(0, 0), "stop"
        async for delta in self._generate(messages, params):
            raw.append(delta.text)
            if delta.usage is not None:
                usage, reason = delta.usage, delta.finish_reason or reason
            safe = redactor.feed(delta.text)
            if _must_stop(redactor, policy):
                break
            if safe:
                shown.append(safe)
                yield {"type": "token", "text": safe}
        tail = redactor.finish()
        if tail and not _must_stop(redactor, policy):
            shown.append(tail)
            yield {"type": "token", "text": tail}
        async with self._db.session(organization_id=actor.organization_id) as session:
            result = evaluate(policy, "".join(raw), stage=Stage.OUTPUT)
            await record_hits(session, actor=actor, result=result, project_id=request.project_id)
            if result.blocked:
                yield _blocked(result)
                return
            message_id = await self._record(
                session, actor, conversation, question, "".join(shown), passages, usage
            )
        await self._quota.add(actor.organization_id, usage.total_tokens)
        yield {
            "type": "done",
            "finish_reason": reason,
            "message_id": message_id,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
        }

    async def _record(
        self,
        session: Any,
        actor: Actor,
        conversation: uuid.UUID | None,
        question: str,
        answer: str,
        passages: list[dict[str, Any]],
        usage: Usage,
    ) -> str | None:
        await UsageRepository(session).add(
            actor.organization_id,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
        )
        if conversation is None:
            return None
        org = actor.organization_id
        session.add(
            Message(
                organization_id=org,
                conversation_id=conversation,
                role="user",
                content=question,
                prompt_tokens=usage.prompt_tokens,
            )
        )
        reply = Message(
            organization_id=org,
            conversation_id=conversation,
            role="assistant",
            content=answer,
            completion_tokens=usage.completion_tokens,
            citations=[_citation(i, p) for i, p in enumerate(passages, 1)],
        )
        session.add(reply)
        await session.flush()
        return str(reply.id)


def _must_stop(redactor: StreamRedactor, policy: GuardrailPolicy) -> bool:
    """A finding whose action is block ends the stream (text already sent cannot be recalled)."""
    return any(
        (rule := policy.active(f.type, Stage.OUTPUT)) is not None and rule.action == "block"
        for f in redactor.findings
    )


def _blocked(result: Any) -> Event:
    return {
        "type": "blocked",
        "stage": str(result.stage),
        "detectors": sorted(result.by_detector()),
        "detail": f"blocked by guardrails at the {result.stage} stage",
    }


def _citation(index: int, passage: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": index,
        "document_id": str(passage["document_id"]),
        "document_name": passage["document_name"],
        "chunk_id": str(passage["chunk_id"]),
        "chunk_index": passage["chunk_index"],
        "score": round(float(passage["score"]), 4),
    }
