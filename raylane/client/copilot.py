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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from raylane.client import _copilot
from raylane.client._copilot import CONVERSATIONS, ChatEvent, ChatEventReader, MessageInput
from raylane.client._http import GENERATION_TIMEOUT
from raylane.client._resources import DEFAULT_PAGE_SIZE, Ident, SyncResource
from raylane.schemas.common import Page
from raylane.schemas.copilot import ChatAnswer, ConversationRead

__all__ = ["ChatEvent", "Copilot", "MessageInput"]


class Copilot(SyncResource):
    """Chat with a project's documents; list and read the stored conversations."""

    def chat(
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
        """Ask a question; wait for the whole answer with its citations.

        The turn is stored: in a new conversation, or in ``conversation_id``'s, whose stored
        history is then used instead of ``messages``. The call waits up to 300 s for the
        answer, whatever the client's timeout.

        Args:
            project_id: The project whose collections are searched.
            question: The user's question; appended to ``messages`` when both are given.
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
        """
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
        return self._run(_copilot.chat(project_id, data))

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
    ) -> Iterator[ChatEvent]:
        """Ask a question; get the answer as events while it is generated.

        Arguments are those of :meth:`chat`, and are checked now; the request is sent when
        iteration starts. Events come in order: ``conversation`` (when stored),
        ``citations``, ``token``\\*, ``done``. Leaving the loop early closes the connection.

        Raises:
            GuardrailBlocked: a guardrail policy refused the question, or the answer (then
                after some ``token`` events: text already received cannot be recalled).
            ServiceUnavailable: the model backend failed mid-answer (an ``error`` event
                raises the class of its code); nothing further is yielded.
            APIConnectionError: the connection broke, or the stream ended before ``done``.
            NotFound, RateLimited, ValidationError: as for :meth:`chat`, before any event.
        """
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
        shape = _copilot.project_conversations(project_id)
        return self._run(shape.list(limit=limit, cursor=cursor))

    def iter_conversations(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[ConversationRead]:
        """Every conversation of a project, fetching pages of ``page_size`` as needed."""
        shape = _copilot.project_conversations(project_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    def conversation(self, conversation_id: Ident) -> ConversationRead:
        """One conversation with its messages, and the citations of each answer.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(CONVERSATIONS.get(conversation_id))
