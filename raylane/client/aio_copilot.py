"""Non-blocking form of :mod:`raylane.client.copilot`.

Each method takes the same arguments, returns the same models and raises the same errors as
its blocking twin, whose docstring it carries; ``stream`` is iterated with ``async for``::

    async for event in client.copilot.stream(project_id, "How long is parental leave?"):
        if event.type == "token":
            print(event.text, end="", flush=True)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from raylane.client import _copilot, copilot
from raylane.client._copilot import CONVERSATIONS, ChatEvent, ChatEventReader, MessageInput
from raylane.client._http import GENERATION_TIMEOUT
from raylane.client._resources import DEFAULT_PAGE_SIZE, AsyncResource, Ident, mirrors
from raylane.schemas.common import Page
from raylane.schemas.copilot import ChatAnswer, ConversationRead


class AsyncCopilot(AsyncResource):
    """Async form of :class:`raylane.client.copilot.Copilot`."""

    @mirrors(copilot.Copilot.chat)
    async def chat(
        self,
        project_id: Ident,
        question: str | None = None,
        *,
        messages: Sequence[MessageInput] | None = None,
        conversation_id: Ident | None = None,
        collection_ids: Sequence[Ident] | None = None,
        top_k: int = 4,
        max_tokens: int | None = None,
        temperature: float = 0.2,
        stop: Sequence[str] | None = None,
    ) -> ChatAnswer:
        data = _copilot.chat_body(
            question,
            messages,
            conversation_id=conversation_id,
            collection_ids=collection_ids,
            top_k=top_k,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            stream=False,
        )
        return await self._run(_copilot.chat(project_id, data))

    @mirrors(copilot.Copilot.stream)
    def stream(
        self,
        project_id: Ident,
        question: str | None = None,
        *,
        messages: Sequence[MessageInput] | None = None,
        conversation_id: Ident | None = None,
        collection_ids: Sequence[Ident] | None = None,
        top_k: int = 4,
        max_tokens: int | None = None,
        temperature: float = 0.2,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[ChatEvent]:
        data = _copilot.chat_body(
            question,
            messages,
            conversation_id=conversation_id,
            collection_ids=collection_ids,
            top_k=top_k,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            stream=True,
        )
        return self._events(_copilot.chat_path(project_id), data)

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

    @mirrors(copilot.Copilot.conversations)
    async def conversations(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ConversationRead]:
        shape = _copilot.project_conversations(project_id)
        return await self._run(shape.list(limit=limit, cursor=cursor))

    @mirrors(copilot.Copilot.iter_conversations)
    def iter_conversations(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[ConversationRead]:
        shape = _copilot.project_conversations(project_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    @mirrors(copilot.Copilot.conversation)
    async def conversation(self, conversation_id: Ident) -> ConversationRead:
        return await self._run(CONVERSATIONS.get(conversation_id))
