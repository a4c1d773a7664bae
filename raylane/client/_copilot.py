"""Request shapes of the copilot API (chat, conversations, usage), shared by both clients,
and the reading of a streamed answer.

Like :mod:`raylane.client._data`, this module only builds :class:`Call` objects and checks
answers; the sync and async resource groups send them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from raylane.client._data import present
from raylane.client._http import GENERATION_TIMEOUT
from raylane.client._resources import Call, Collection, Ident, body, segment
from raylane.client._sse import ServerSentEvent, SSEDecoder
from raylane.client.errors import (
    APIConnectionError,
    GuardrailBlocked,
    RaylaneError,
    ValidationError,
    error_for,
)
from raylane.schemas.copilot import (
    ChatAnswer,
    ChatBody,
    ChatMessage,
    ChatUsage,
    Citation,
    ConversationRead,
    UsageRead,
)

MessageInput = Mapping[str, str] | ChatMessage
"""One turn of history: ``{"role": "user" | "assistant" | "system", "content": "..."}``."""

CONVERSATIONS: Final = Collection("/api/v1/conversations", ConversationRead)
USAGE_PATH: Final = "/api/v1/usage"


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


def chat_path(project_id: Ident) -> str:
    """``/projects/{id}/copilot/chat``."""
    return f"/api/v1/projects/{segment(project_id)}/copilot/chat"


def chat_body(
    question: str | None,
    messages: Sequence[MessageInput] | None,
    *,
    conversation_id: Ident | None,
    collection_ids: Sequence[Ident] | None,
    top_k: int,
    max_tokens: int | None,
    temperature: float,
    stop: Sequence[str] | None,
    stream: bool,
) -> dict[str, Any]:
    """A :class:`ChatBody` validated locally: ``messages`` as history, then ``question``.

    Raises:
        ValidationError: neither a question nor messages, the last turn is not the user's,
            or a field is out of range (nothing was sent).
    """
    turns = [m.model_dump() if isinstance(m, BaseModel) else dict(m) for m in messages or ()]
    if question is not None:
        turns.append({"role": "user", "content": question})
    if not turns:
        raise ValidationError("give a question, or messages ending with the user's")
    return body(
        ChatBody,
        messages=turns,
        **present(
            conversation_id=conversation_id,
            collection_ids=list(collection_ids) if collection_ids is not None else None,
            max_tokens=max_tokens,
            stop=list(stop) if stop is not None else None,
        ),
        top_k=top_k,
        temperature=temperature,
        stream=stream,
    )


def chat(project_id: Ident, data: Mapping[str, Any]) -> Call[ChatAnswer]:
    """``POST /projects/{id}/copilot/chat`` for a whole answer, waiting as long as it takes
    to generate."""
    return Call(
        "POST",
        chat_path(project_id),
        ChatAnswer.model_validate,
        json=data,
        timeout=GENERATION_TIMEOUT,
    )


def project_conversations(project_id: Ident) -> Collection[ConversationRead]:
    """``/projects/{id}/copilot/conversations``: where a project's conversations are listed."""
    return Collection(
        f"/api/v1/projects/{segment(project_id)}/copilot/conversations", ConversationRead
    )


def usage(days: int) -> Call[UsageRead]:
    """``GET /usage?days=``."""
    return Call("GET", USAGE_PATH, UsageRead.model_validate, params={"days": days})


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
