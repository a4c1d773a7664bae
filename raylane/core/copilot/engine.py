"""The copilot's one use case: guarded, cited, streamed answers.

input guardrails on every turn the client sent → retrieval over the project's collections
(tenant-scoped; a follow-up question with the previous user turn) → context guardrails → the
answer: generated (prompt → LLM stream, stopped when a sentence repeats) or extractive (the
best sentences of the passages, quoted with their markers, or a fixed refusal; see
``grounding``) → token reservation → streaming-safe output redaction → stored turn, usage, and
the reservation settled.

No database connection is held while the model runs: the checks and retrieval, the new
conversation, and the final writes are each a short transaction of their own. The engine gets its
embedder and LLM as callables, so the same code runs in the Copilot Serve deployment (handles)
and in-process (plain uvicorn, notebooks).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from raylane.core.collections.repository import ChunkRepository, CollectionRepository
from raylane.core.collections.search import Hit, search_service
from raylane.core.copilot import grounding, prompt
from raylane.core.copilot.models import Conversation, Message
from raylane.core.copilot.repository import ConversationRepository
from raylane.core.guardrails.policy import (
    GuardrailPolicy,
    GuardrailResult,
    Stage,
    approx_token_count,
    effective_policy,
    evaluate,
    evaluate_turns,
)
from raylane.core.guardrails.service import guardrail_service, record_hits
from raylane.core.guardrails.stream import StreamRedactor
from raylane.core.ports import Embed
from raylane.core.ports import Event as Event  # one definition, shared with the hosts
from raylane.core.projects.service import project_service
from raylane.core.quotas.repository import UsageRepository
from raylane.core.quotas.service import Reservation, TokenQuota
from raylane.core.quotas.slots import run_to_completion
from raylane.core.rbac import Actor
from raylane.errors import InvalidInput, NotFound, ServiceUnavailable
from raylane.infra.db.session import Database
from raylane.infra.llm.base import Delta, GenerationParams, LLMBackend, Usage

log = logging.getLogger("raylane.copilot")

Generate = Callable[[list[dict[str, str]], GenerationParams], AsyncIterator[Delta]]

HISTORY_TURNS = 10
# The role a client's turn takes in the prompt. A client's system (or developer) turn becomes a
# user turn after the platform's system prompt: it is the client's text, and must never carry
# the platform prompt's authority. Other roles (tool, function) have no meaning here.
CLIENT_ROLES = {"user": "user", "assistant": "assistant", "system": "user", "developer": "user"}
MESSAGE_OVERHEAD_TOKENS = 4  # the chat template's markers around each message (an estimate)


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
    # auto: the engine's default (extractive for the bundled small model); plain chat (no
    # project) is always generative.
    answer_mode: grounding.AnswerMode = "auto"
    # A copilot configuration's (``core/endpoints/configs.py``): the platform's system prompt
    # replaced, and a guardrail policy merged over the project's effective one.
    system_prompt: str | None = None
    guardrail_policy: dict[str, Any] | None = None
    # A configuration's own LLM (its stored choice: backend, URL, model, sealed key); None: the
    # platform's.
    llm: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Prepared:
    """What the first transaction found: the policy, the checked turns and the passages."""

    policy: GuardrailPolicy
    question: str
    history: list[dict[str, str]]
    passages: list[Hit]
    # extractive answers: chunks found by the question's words that the vector search missed
    extra: list[Hit] = field(default_factory=list)


@dataclass
class _Meter:
    """Tokens a generation has cost so far: the model's own count once it reports one, else the
    prompt's estimate plus a token per delta received."""

    prompt: int
    generated: int = 0
    reported: Usage | None = None
    finish_reason: str = "stop"

    def see(self, delta: Delta) -> None:
        if delta.text:
            self.generated += 1
        if delta.usage is not None:
            self.reported = delta.usage
            self.finish_reason = delta.finish_reason or self.finish_reason

    @property
    def started(self) -> bool:
        return self.generated > 0 or self.reported is not None

    def usage(self) -> Usage:
        return self.reported or Usage(self.prompt, self.generated)


def client_turns(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """A client's turns with the roles they take in the prompt (see ``CLIENT_ROLES``).

    Raises:
        InvalidInput: a role the copilot does not accept.
    """
    turns = []
    for turn in history:
        role = CLIENT_ROLES.get(turn.get("role", ""))
        if role is None:
            raise InvalidInput(
                f"message role {turn.get('role')!r} is not supported "
                f"(use one of {', '.join(CLIENT_ROLES)})"
            )
        turns.append({"role": role, "content": turn.get("content") or ""})
    return turns


class CopilotEngine:
    def __init__(
        self,
        db: Database,
        *,
        embed: Embed,
        generate: Generate,
        quota: TokenQuota,
        count_tokens: Callable[[str], int] | None = None,
        auto_mode: Literal["extractive", "generative"] = "generative",
        backends: Callable[[dict[str, Any]], LLMBackend] | None = None,
    ) -> None:
        self._db, self._embed, self._generate = db, embed, generate
        self._quota, self._count = quota, count_tokens
        self._auto_mode = auto_mode
        self._backends = backends  # a configuration's own LLM (``ChatRequest.llm``)

    def mode(self, request: ChatRequest) -> Literal["extractive", "generative"]:
        """How this request is answered: plain chat is generated; a project's answer as asked,
        ``auto`` being the host's choice (``grounding.auto_mode``) for the platform's LLM and
        generation for a configuration's own (extraction is for the small bundled model)."""
        if request.project_id is None:
            return "generative"
        if request.answer_mode != "auto":
            return request.answer_mode
        return "generative" if request.llm else self._auto_mode

    def _model(self, request: ChatRequest) -> tuple[Generate, Callable[[str], int]]:
        """What generates this request's answer, and how its tokens are counted.

        Raises:
            ServiceUnavailable: the request names its own LLM and this host has none to build.
        """
        if request.llm is None:
            return self._generate, self._count or approx_token_count
        if self._backends is None:
            raise ServiceUnavailable("this copilot host cannot reach a configuration's LLM")
        try:
            backend = self._backends(request.llm)
        except ValueError as exc:  # a key sealed under another platform key, a bad choice
            log.error("a configuration's LLM could not be built: %s", exc)
            raise ServiceUnavailable("the configuration's LLM is unavailable") from None
        return backend.stream, backend.count_tokens

    async def chat(self, actor: Actor, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Events: conversation, citations, token*, then done — or blocked / error.

        Raises:
            GuardrailBlocked is not raised: a block is an event. NotFound (project or
            conversation), InvalidInput (a role), RateLimited (the tokens do not fit today's
            quota) and ServiceUnavailable (the model) are raised before the first event that
            carries an answer.
        """
        prepared = await self._prepare(actor, request)
        if isinstance(prepared, GuardrailResult):
            yield _blocked(prepared)
            return
        async for event in self._answer(actor, request, prepared):
            yield event

    async def _prepare(self, actor: Actor, request: ChatRequest) -> _Prepared | GuardrailResult:
        """The first short transaction: policy, input checks on every supplied turn, the stored
        history, retrieval and context checks. Returns the blocking result if input is refused."""
        async with self._db.session(organization_id=actor.organization_id) as session:
            policy = await guardrail_service.effective(session, project_id=request.project_id)
            if request.guardrail_policy:  # a configuration's policy speaks last
                policy = effective_policy(
                    policy, GuardrailPolicy.model_validate(request.guardrail_policy)
                )
            stored = await self._stored_history(session, request)
            supplied = client_turns(request.history) if stored is None else []
            checked, texts = await asyncio.to_thread(  # the learned head runs a model: off the loop
                evaluate_turns,
                policy,
                [t["content"] for t in supplied] + [request.question],
                stage=Stage.INPUT,
                token_counter=self._count,
            )
            await record_hits(session, actor=actor, result=checked, project_id=request.project_id)
            if checked.blocked:
                return checked
            history = (
                stored
                if stored is not None
                else [t | {"content": text} for t, text in zip(supplied, texts, strict=False)]
            )
            query = grounding.retrieval_query(checked.text, history)
            top_k = request.top_k
            if self.mode(request) == "extractive":  # more sentences to choose from
                top_k = max(top_k, grounding.EXTRACTIVE_TOP_K)
            passages = await self._retrieve(session, request, query, top_k)
            extra = []
            if self.mode(request) == "extractive" and passages:
                extra = await self._by_words(session, request, query, passages)
            passages = await self._guard_context(session, actor, policy, request, passages)
            extra = await self._guard_context(session, actor, policy, request, extra)
        return _Prepared(policy, checked.text, history, passages, extra)

    async def _stored_history(
        self, session: Any, request: ChatRequest
    ) -> list[dict[str, str]] | None:
        """A stored conversation's last turns (None: the client's own history is used)."""
        if request.project_id is None or not request.store:
            return None
        await project_service.get(session, project_id=request.project_id)
        if request.conversation_id is None:
            return None
        found = await ConversationRepository(session).get(request.conversation_id)
        if found is None or found.project_id != request.project_id:
            raise NotFound("conversation", request.conversation_id)
        turns = await ConversationRepository(session).history(found.id, limit=HISTORY_TURNS)
        return [{"role": m.role, "content": m.content} for m in turns]

    async def _open_conversation(self, actor: Actor, request: ChatRequest) -> uuid.UUID | None:
        """The conversation this turn belongs to, created in a short transaction if new."""
        if request.project_id is None or not request.store:
            return None
        if request.conversation_id is not None:
            return request.conversation_id
        async with self._db.session(organization_id=actor.organization_id) as session:
            conversation = Conversation(
                organization_id=actor.organization_id,
                project_id=request.project_id,
                title=request.question[:200],
                created_by=actor.user_id,
            )
            return (await ConversationRepository(session).add(conversation)).id

    async def _retrieve(
        self, session: Any, request: ChatRequest, question: str, top_k: int
    ) -> list[Hit]:
        if request.project_id is None:
            return []
        hits: list[Hit] = []
        for collection_id in await self._collections(session, request):
            hits += await search_service.search(
                session,
                collection_id=collection_id,
                query=question,
                vector=None,
                top_k=top_k,
                filters={},
                mode="vector",
                embed=self._embed,
            )
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:top_k]

    async def _collections(self, session: Any, request: ChatRequest) -> list[uuid.UUID]:
        """The collections a chat searches: those asked for, else all of the project's."""
        return request.collection_ids or [
            c.id
            for c in (
                await CollectionRepository(session).page(
                    {"project_id": request.project_id}, limit=50, cursor=None
                )
            ).items
        ]

    async def _by_words(
        self, session: Any, request: ChatRequest, question: str, found: list[Hit]
    ) -> list[Hit]:
        """Chunks holding the question's words that the vector search missed. Scored as the
        weakest vector hit: they add sentences to choose from, never relevance."""
        query = grounding.lexical_query(question)
        if not query:
            return []
        seen = {h.chunk_id for h in found}
        floor = min(h.score for h in found)
        extra: list[Hit] = []
        for collection_id in await self._collections(session, request):
            rows = await ChunkRepository(session).full_text(
                collection_id=collection_id,
                query=query,
                limit=grounding.EXTRACTIVE_LEXICAL_K,
                filters={},
            )
            extra += [
                Hit(
                    chunk_id=r["id"],
                    document_id=r["document_id"],
                    document_name=r["document_name"],
                    chunk_index=r["chunk_index"],
                    text=r["text"],
                    score=floor,
                    metadata=r["metadata"],
                )
                for r in rows
                if r["id"] not in seen
            ]
            seen |= {r["id"] for r in rows}
        return extra[: grounding.EXTRACTIVE_LEXICAL_K]

    async def _guard_context(
        self,
        session: Any,
        actor: Actor,
        policy: GuardrailPolicy,
        request: ChatRequest,
        passages: list[Hit],
    ) -> list[Hit]:
        if not passages:
            return []
        kept = []
        results = await asyncio.to_thread(
            lambda: [evaluate(policy, p.text, stage=Stage.CONTEXT) for p in passages]
        )
        for passage, result in zip(passages, results, strict=True):
            await record_hits(session, actor=actor, result=result, project_id=request.project_id)
            if not result.blocked:  # a poisoned passage is dropped, not passed to the model
                kept.append(replace(passage, text=result.text))
        return kept

    @staticmethod
    def _prompt_tokens(messages: list[dict[str, str]], count: Callable[[str], int]) -> int:
        return sum(count(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)

    async def _answer(
        self, actor: Actor, request: ChatRequest, prep: _Prepared
    ) -> AsyncGenerator[Event, None]:
        """Reserve, generate, record, settle. The reservation (prompt + max_tokens) comes before
        any write, and is settled to what was generated however the stream ends: finished,
        blocked, or abandoned by its client (the generator closed at a yield)."""
        params, policy = request.params, prep.policy
        if policy.max_output_tokens:
            params = replace(params, max_tokens=min(params.max_tokens, policy.max_output_tokens))
        cited = prep.passages
        messages = prompt.build(
            prep.passages, prep.history, prep.question, system=request.system_prompt
        )
        # Input tokens are the prompt's in both modes (what the answer is built from), so an
        # organization's quota and usage do not depend on how the answer was made.
        generate, count = self._model(request)
        meter = _Meter(self._prompt_tokens(messages, count))
        stream: AsyncIterator[Delta]
        if self.mode(request) == "extractive":
            quoted = grounding.extract(prep.question, prep.passages, prep.history, prep.extra)
            found = [*prep.passages, *prep.extra]
            cited = [found[i - 1] for i in quoted.cited]  # what the answer quotes, in order
            stream = self._quoted(quoted.text, meter.prompt, params.max_tokens, count)
        else:
            stream = generate(messages, params)
        reservation = await self._quota.reserve(
            actor.organization_id, meter.prompt + params.max_tokens
        )
        recorded = False
        try:
            conversation = await self._open_conversation(actor, request)
            if conversation is not None:
                yield {"type": "conversation", "conversation_id": str(conversation)}
            yield {
                "type": "citations",
                "citations": [_citation(i, p) for i, p in enumerate(cited, 1)],
            }
            raw: list[str] = []
            shown: list[str] = []
            tokens = self._tokens(stream, policy, meter, raw, shown)
            try:
                async for event in tokens:
                    yield event
            finally:
                await tokens.aclose()  # a client gone at a yield: stop the model now
            final = await self._finish(
                actor, request, prep, conversation, "".join(raw), "".join(shown), meter, cited
            )
            recorded = True
        except Exception:
            if not meter.started:  # the model failed before answering: nothing to charge
                meter.prompt = 0
            raise
        finally:
            usage = meter.usage()
            await run_to_completion(self._settle(actor, reservation, usage, record=not recorded))
        yield final

    async def _quoted(
        self, text: str, prompt_tokens: int, max_tokens: int, count: Callable[[str], int]
    ) -> AsyncIterator[Delta]:
        """An extractive answer streamed like a model's: word by word, then the usage (the
        question's tokens in, the answer's out), cut at ``max_tokens`` words like a model."""
        words = grounding.pieces(text)
        reason = "length" if len(words) > max_tokens else "stop"
        sent = words[:max_tokens]
        for word in sent:
            yield Delta(word)
            await asyncio.sleep(0)  # one event per word reaches the client as it is produced
        yield Delta("", reason, Usage(prompt_tokens, max(1, count("".join(sent)))))

    async def _tokens(
        self,
        stream: AsyncIterator[Delta],
        policy: GuardrailPolicy,
        meter: _Meter,
        raw: list[str],
        shown: list[str],
    ) -> AsyncGenerator[Event, None]:
        """The answer's stream through the output redactor; ``raw``/``shown`` collect the text
        generated and the text sent, ``meter`` what it cost. A sentence the model repeats ends
        the stream (small models loop on one sentence until their token limit)."""
        redactor = StreamRedactor.from_policy(policy, stage=Stage.OUTPUT)
        repeats = RepeatGuard()
        try:
            async for delta in stream:
                meter.see(delta)
                raw.append(delta.text)
                safe = redactor.feed(delta.text)
                if _must_stop(redactor, policy):
                    break
                if repeats.feed(delta.text):
                    meter.finish_reason = "stop"
                    if safe:
                        shown.append(safe)
                        yield {"type": "token", "text": safe}
                    break
                if safe:
                    shown.append(safe)
                    yield {"type": "token", "text": safe}
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:  # closing the stream stops the model
                await aclose()
        tail = redactor.finish()
        if tail and not _must_stop(redactor, policy):
            shown.append(tail)
            yield {"type": "token", "text": tail}

    async def _finish(
        self,
        actor: Actor,
        request: ChatRequest,
        prep: _Prepared,
        conversation: uuid.UUID | None,
        raw: str,
        shown: str,
        meter: _Meter,
        cited: list[Hit],
    ) -> Event:
        """The last short transaction: the output check, the usage (blocked or not) and the
        stored turn. Returns the closing event."""
        usage, org = meter.usage(), actor.organization_id
        async with self._db.session(organization_id=org) as session:
            result = await asyncio.to_thread(evaluate, prep.policy, raw, stage=Stage.OUTPUT)
            await record_hits(session, actor=actor, result=result, project_id=request.project_id)
            await _add_usage(session, org, usage)
            if result.blocked:
                return _blocked(result)
            message_id = await self._record(
                session, actor, conversation, prep.question, shown, cited, usage
            )
        return {
            "type": "done",
            "finish_reason": meter.finish_reason,
            "message_id": message_id,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
        }

    async def _settle(
        self, actor: Actor, reservation: Reservation, usage: Usage, *, record: bool
    ) -> None:
        """Charge ``usage`` in place of the reservation; ``record``: also write the usage row
        (a stream that ended before its last transaction)."""
        org = actor.organization_id
        if record and usage.total_tokens:
            try:
                async with self._db.session(organization_id=org) as session:
                    await _add_usage(session, org, usage)
            except Exception:  # the quota below still charges it
                log.exception("usage of an abandoned chat not recorded", extra={"org": str(org)})
        try:
            await self._quota.settle(reservation, usage.total_tokens)
        except Exception:  # the whole reservation stays charged: never less than was used
            log.exception("token reservation not settled", extra={"org": str(org)})

    async def _record(
        self,
        session: Any,
        actor: Actor,
        conversation: uuid.UUID | None,
        question: str,
        answer: str,
        passages: list[Hit],
        usage: Usage,
    ) -> str | None:
        if conversation is None:
            return None
        org = actor.organization_id
        asked = Message(
            organization_id=org,
            conversation_id=conversation,
            role="user",
            content=question,
            prompt_tokens=usage.prompt_tokens,
        )
        reply = Message(
            organization_id=org,
            conversation_id=conversation,
            role="assistant",
            content=answer,
            completion_tokens=usage.completion_tokens,
            citations=[_citation(i, p) for i, p in enumerate(passages, 1)],
        )
        await ConversationRepository(session).add_messages(asked, reply)
        return str(reply.id)


async def _add_usage(session: Any, organization_id: uuid.UUID, usage: Usage) -> None:
    if usage.total_tokens:
        await UsageRepository(session).count_request(
            organization_id,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
        )


_SENTENCE = re.compile(r"[^.!?\n]*[.!?\n]")
MIN_REPEATED_CHARS = 12  # "Yes." twice is speech; a 12+ character sentence twice is a loop


class RepeatGuard:
    """Watches generated text; ``feed`` answers True once a finished sentence repeats one
    already generated (compared without case, spacing or citation markers)."""

    def __init__(self) -> None:
        self._pending = ""
        self._seen: set[str] = set()

    def feed(self, text: str) -> bool:
        self._pending += text
        repeated = False
        while (match := _SENTENCE.match(self._pending)) is not None:
            sentence, self._pending = match.group(0), self._pending[match.end() :]
            key = re.sub(r"\W+", " ", re.sub(r"\[\d+\]", "", sentence.lower())).strip()
            if len(key) < MIN_REPEATED_CHARS:
                continue
            repeated = repeated or key in self._seen
            self._seen.add(key)
        return repeated


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


def _citation(index: int, passage: Hit) -> dict[str, Any]:
    return {
        "index": index,
        "document_id": str(passage.document_id),
        "document_name": passage.document_name,
        "chunk_id": str(passage.chunk_id),
        "chunk_index": passage.chunk_index,
        "score": round(float(passage.score), 4),
    }
