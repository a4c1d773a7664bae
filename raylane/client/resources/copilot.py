"""The copilot: answers with citations from a project's collections, streamed or whole, and
the conversations they are stored in.

Example::

    with Client() as client:
        answer = client.copilot.chat(project.id, "How long is parental leave?")
        print(answer.answer)
        for c in answer.citations:
            print(f"[{c.index}] {c.document_name} #{c.chunk_index} ({c.score:.2f})")

        for event in client.copilot.stream(project.id, "And for the second parent?",
                                           conversation_id=answer.conversation_id):
            if event.type == "token":
                print(event.text, end="", flush=True)

        print(client.usage(days=7).tokens_used_today)

The same answers are served in OpenAI's format at ``<url>/v1``, for tools built on the
``openai`` package; the model ``copilot/<project id>`` answers from that project's
collections, the LLM's own name (see ``models.list()``) chats without retrieval::

    from openai import OpenAI

    llm = OpenAI(base_url=f"{client.base_url}/v1", api_key="rl_...")   # a Raylane API key
    reply = llm.chat.completions.create(
        model=f"copilot/{project.id}",
        messages=[{"role": "user", "content": "How long is parental leave?"}],
    )
    print(reply.choices[0].message.content)

Guardrail policies apply to both: a refused question or answer raises
:class:`~raylane.client.errors.GuardrailBlocked` here (``finish_reason == "content_filter"``
there).

The chat settings shared by ``chat`` and ``stream`` are one :class:`ChatOptions`; pass it as
``options=``, or its fields as keyword arguments (they override the options given).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Final, TypedDict, Unpack

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from raylane.client._http import GENERATION_TIMEOUT
from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
    present,
    segment,
)
from raylane.client._sse import ServerSentEvent, SSEDecoder
from raylane.client.errors import (
    APIConnectionError,
    GuardrailBlocked,
    RaylaneError,
    ValidationError,
    error_for,
)
from raylane.schemas.common import Page
from raylane.schemas.copilot import (
    ChatAnswer,
    ChatBody,
    ChatMessage,
    ChatUsage,
    Citation,
    ConversationRead,
)

__all__ = [
    "AsyncCopilot",
    "ChatEvent",
    "ChatOptions",
    "ChatSettings",
    "Copilot",
    "MessageInput",
]

MessageInput = Mapping[str, str] | ChatMessage
"""One turn of history: ``{"role": "user" | "assistant" | "system", "content": "..."}``."""

CONVERSATIONS: Final = Collection("/api/v1/conversations", ConversationRead)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChatOptions:
    """The settings of one chat turn besides the question, shared by ``chat`` and ``stream``.

    Every field is optional; see :meth:`Copilot.chat` for what each one means.
    """

    messages: Sequence[MessageInput] | None = None
    conversation_id: Ident | None = None
    collection_ids: Sequence[Ident] | None = None
    top_k: int = 4
    max_tokens: int | None = None
    temperature: float = 0.2
    stop: Sequence[str] | None = None


class ChatSettings(TypedDict, total=False):
    """:class:`ChatOptions`'s fields as keyword arguments (the type of ``chat``'s
    ``**settings``); a unit test keeps the two in step."""

    messages: Sequence[MessageInput] | None
    conversation_id: Ident | None
    collection_ids: Sequence[Ident] | None
    top_k: int
    max_tokens: int | None
    temperature: float
    stop: Sequence[str] | None


class ChatEvent(BaseModel):
    """One event of a streamed answer; ``type`` says which fields it fills.

    - ``conversation``: ``conversation_id``, the stored conversation the turn belongs to.
    - ``citations``: ``citations``, the passages the answer may cite as ``[n]``.
    - ``token``: ``text``, the next piece of the answer.
    - ``done``: ``finish_reason``, ``message_id`` and ``usage``; always the last event.

    ``blocked`` and ``error`` events are never yielded: they raise instead. A newer server
    may send types this SDK does not know; they come through with ``type`` only.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    text: str = ""
    conversation_id: uuid.UUID | None = None
    citations: list[Citation] = Field(default_factory=list)
    finish_reason: str | None = None
    message_id: uuid.UUID | None = None
    usage: ChatUsage | None = None


class _Copilot:
    """The request shapes of the copilot; both resource groups below send them."""

    @staticmethod
    def chat_path(project_id: Ident) -> str:
        """``/projects/{id}/copilot/chat``."""
        return f"/api/v1/projects/{segment(project_id)}/copilot/chat"

    @staticmethod
    def chat_body(
        question: str | None,
        options: ChatOptions | None,
        settings: ChatSettings,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        """A :class:`ChatBody` validated locally: ``messages`` as history, then ``question``.

        Raises:
            ValidationError: neither a question nor messages, the last turn is not the user's,
                or a field is out of range (nothing was sent).
            TypeError: ``settings`` names a field that :class:`ChatOptions` does not have.
        """
        chosen = dataclasses.replace(options or ChatOptions(), **settings)
        turns = [
            m.model_dump() if isinstance(m, BaseModel) else dict(m) for m in chosen.messages or ()
        ]
        if question is not None:
            turns.append({"role": "user", "content": question})
        if not turns:
            raise ValidationError("give a question, or messages ending with the user's")
        ids, stop = chosen.collection_ids, chosen.stop
        return body(
            ChatBody,
            messages=turns,
            **present(
                conversation_id=chosen.conversation_id,
                collection_ids=list(ids) if ids is not None else None,
                max_tokens=chosen.max_tokens,
                stop=list(stop) if stop is not None else None,
            ),
            top_k=chosen.top_k,
            temperature=chosen.temperature,
            stream=stream,
        )

    @staticmethod
    def chat(project_id: Ident, data: Mapping[str, Any]) -> Call[ChatAnswer]:
        """``POST /projects/{id}/copilot/chat`` for a whole answer, waiting as long as it takes
        to generate."""
        path = _Copilot.chat_path(project_id)
        return Call("POST", path, ChatAnswer.model_validate, json=data, timeout=GENERATION_TIMEOUT)

    @staticmethod
    def conversations(project_id: Ident) -> Collection[ConversationRead]:
        """``/projects/{id}/copilot/conversations``: where a project's conversations are
        listed."""
        path = f"/api/v1/projects/{segment(project_id)}/copilot/conversations"
        return Collection(path, ConversationRead)


class ChatEventReader:
    """Bytes of a chat event stream in, :class:`ChatEvent` out; raises at ``blocked`` and
    ``error`` events, and when the stream ends without ``done`` (a cut connection)."""

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self.done = False

    def feed(self, chunk: bytes) -> Iterator[ChatEvent]:
        """The events completed by ``chunk``, in order.

        Raises:
            GuardrailBlocked: a ``blocked`` event.
            RaylaneError: an ``error`` event, as the class of its code (e.g.
                ``ServiceUnavailable`` when the model backend failed); ``invalid_response``
                for an event that is not a JSON object.
        """
        for sse in self._sse.feed(chunk):
            yield self._event(sse)

    def close(self) -> Iterator[ChatEvent]:
        """The events completed by the end of the body.

        Raises:
            APIConnectionError: the stream ended before its ``done`` event.
        """
        for sse in self._sse.close():
            yield self._event(sse)
        if not self.done:
            raise APIConnectionError(
                "the answer stream ended before it was complete; the answer may be cut short"
            )

    def _event(self, sse: ServerSentEvent) -> ChatEvent:
        payload = _payload(sse)
        if sse.event == "blocked":
            raise blocked(payload)
        if sse.event == "error":
            code = payload.get("error")
            detail = payload.get("detail")
            raise error_for(
                code if isinstance(code, str) else "internal_error",
                detail if isinstance(detail, str | list) else "the answer failed",
            )
        try:
            event = ChatEvent.model_validate({**payload, "type": sse.event})
        except pydantic.ValidationError as exc:
            raise _invalid(f"a {sse.event!r} event does not match the chat events") from exc
        if event.type == "done":
            self.done = True
        return event


def blocked(payload: Mapping[str, Any]) -> GuardrailBlocked:
    """The error for a ``blocked`` event: detail as the unstreamed answer words it."""
    detectors = [str(d) for d in payload.get("detectors") or () if d]
    detail = str(payload.get("detail") or "blocked by guardrails")
    if detectors:
        detail = f"{detail} ({', '.join(detectors)})"
    stage = payload.get("stage")
    return GuardrailBlocked(
        detail, stage=str(stage) if stage is not None else None, detectors=detectors
    )


def _payload(sse: ServerSentEvent) -> dict[str, Any]:
    try:
        payload = json.loads(sse.data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _invalid(f"a {sse.event!r} event is not a JSON object")
    return payload


def _invalid(message: str) -> RaylaneError:
    return RaylaneError(
        f"{message}; are client and server versions compatible?", code="invalid_response"
    )


class Copilot(SyncResource):
    """Chat with a project's documents; list and read the stored conversations."""

    def chat(
        self,
        project_id: Ident,
        question: str | None = None,
        *,
        options: ChatOptions | None = None,
        **settings: Unpack[ChatSettings],
    ) -> ChatAnswer:
        """Ask a question; wait for the whole answer with its citations.

        The turn is stored: in a new conversation, or in ``conversation_id``'s, whose stored
        history is then used instead of ``messages``. The call waits up to 300 s for the
        answer, whatever the client's timeout.

        Args:
            project_id: The project whose collections are searched.
            question: The user's question; appended to ``messages`` when both are given.
            options: The chat settings below as one :class:`ChatOptions`; keyword arguments
                given as well override its fields.
            messages: Earlier turns, ``{"role", "content"}`` each (the last one is the
                question when ``question`` is None).
            conversation_id: Continue this conversation of the project.
            collection_ids: Search only these collections (default: all of the project's).
            top_k: Passages to retrieve, 1 to 20.
            max_tokens: Longest answer (default and ceiling: the server's).
            temperature: 0 to 2.
            stop: Up to four strings that end the answer.

        Returns:
            The answer, its numbered citations, the token usage and the stored ids.

        Raises:
            GuardrailBlocked: a guardrail policy refused the question or the answer.
            NotFound: the project or the conversation does not exist or belongs to another
                organization.
            RateLimited: the organization's daily token quota or the request rate is spent
                (``retry_after`` says for how long).
            ServiceUnavailable: the model backend is down.
            ValidationError: no question, the last message is not the user's, or a field is
                out of range (checked before sending).
            TypeError: a keyword argument that is not a chat setting.
        """
        data = _Copilot.chat_body(question, options, settings, stream=False)
        return self._run(_Copilot.chat(project_id, data))

    def stream(
        self,
        project_id: Ident,
        question: str | None = None,
        *,
        options: ChatOptions | None = None,
        **settings: Unpack[ChatSettings],
    ) -> Iterator[ChatEvent]:
        """Ask a question; get the answer as events while it is generated.

        Arguments (and ``options``) are those of :meth:`chat`, and are checked now; the
        request is sent when iteration starts. Events come in order: ``conversation`` (when
        stored), ``citations``, ``token``\\*, ``done``. Leaving the loop early closes the
        connection.

        Raises:
            GuardrailBlocked: a guardrail policy refused the question, or the answer (then
                after some ``token`` events: text already received cannot be recalled).
            ServiceUnavailable: the model backend failed mid-answer (an ``error`` event
                raises the class of its code); nothing further is yielded.
            APIConnectionError: the connection broke, or the stream ended before ``done``.
            NotFound, RateLimited, ValidationError: as for :meth:`chat`, before any event.
        """
        data = _Copilot.chat_body(question, options, settings, stream=True)
        return self._events(_Copilot.chat_path(project_id), data)

    def _events(self, path: str, data: dict[str, object]) -> Iterator[ChatEvent]:
        reader = ChatEventReader()
        with self._http.stream("POST", path, json=data, timeout=GENERATION_TIMEOUT) as response:
            for chunk in response.iter_bytes():
                yield from reader.feed(chunk)
            yield from reader.close()

    def conversations(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ConversationRead]:
        """One page of a project's conversations (without their messages); pass
        ``next_cursor`` on.

        Raises:
            NotFound: the project does not exist or belongs to another organization.
        """
        shape = _Copilot.conversations(project_id)
        return self._run(shape.list(limit=limit, cursor=cursor))

    def iter_conversations(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[ConversationRead]:
        """Every conversation of a project, fetching pages of ``page_size`` as needed."""
        shape = _Copilot.conversations(project_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    def conversation(self, conversation_id: Ident) -> ConversationRead:
        """One conversation with its messages, and the citations of each answer.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(CONVERSATIONS.get(conversation_id))


class AsyncCopilot(AsyncResource, twin=Copilot):
    """Async form of :class:`Copilot`; ``stream`` is iterated with ``async for``::

    async for event in client.copilot.stream(project_id, "How long is parental leave?"):
        if event.type == "token":
            print(event.text, end="", flush=True)
    """

    async def chat(
        self,
        project_id: Ident,
        question: str | None = None,
        *,
        options: ChatOptions | None = None,
        **settings: Unpack[ChatSettings],
    ) -> ChatAnswer:
        data = _Copilot.chat_body(question, options, settings, stream=False)
        return await self._run(_Copilot.chat(project_id, data))

    def stream(
        self,
        project_id: Ident,
        question: str | None = None,
        *,
        options: ChatOptions | None = None,
        **settings: Unpack[ChatSettings],
    ) -> AsyncIterator[ChatEvent]:
        data = _Copilot.chat_body(question, options, settings, stream=True)
        return self._events(_Copilot.chat_path(project_id), data)

    async def _events(self, path: str, data: dict[str, object]) -> AsyncIterator[ChatEvent]:
        reader = ChatEventReader()
        async with self._http.stream(
            "POST", path, json=data, timeout=GENERATION_TIMEOUT
        ) as response:
            async for chunk in response.aiter_bytes():
                for event in reader.feed(chunk):
                    yield event
            for event in reader.close():
                yield event

    async def conversations(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ConversationRead]:
        shape = _Copilot.conversations(project_id)
        return await self._run(shape.list(limit=limit, cursor=cursor))

    def iter_conversations(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[ConversationRead]:
        shape = _Copilot.conversations(project_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    async def conversation(self, conversation_id: Ident) -> ConversationRead:
        return await self._run(CONVERSATIONS.get(conversation_id))
