"""Copilot chat, conversations, usage, and the OpenAI-compatible wire shapes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from raylane.schemas.common import JSON_NUMBER, MAX_TOKENS, Bool, Float, Input, Int, Output, RawText

# "At least one message from the user": the document says it with ``contains``.
_HAS_USER_TURN: dict[str, JsonValue] = {
    "contains": {"properties": {"role": {"const": "user"}}, "required": ["role"]}
}


class ChatMessage(Input):
    model_config = ConfigDict(extra="forbid")  # content and stop strings keep their whitespace

    role: Literal["system", "user", "assistant"]
    content: RawText = Field(max_length=100_000)


def question_index(roles: list[str]) -> int:
    """Where the question is: the last ``user`` message (every other message is history).

    Raises:
        ValueError: no message comes from the user.
    """
    for i in range(len(roles) - 1, -1, -1):
        if roles[i] == "user":
            return i
    raise ValueError("at least one message must come from the user")


class ChatBody(Input):
    """The last ``user`` message is the question; the others are history, in order (unless
    continuing a stored conversation, whose own history is used)."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(
        min_length=1, max_length=100, json_schema_extra=_HAS_USER_TURN
    )
    conversation_id: uuid.UUID | None = None
    collection_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    top_k: Int = Field(default=4, ge=1, le=20)
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS), JSON_NUMBER] | None = None
    temperature: Float = Field(default=0.2, ge=0, le=2)
    stop: list[RawText] = Field(default_factory=list, max_length=4)
    stream: Bool = False
    # extractive: the answer quotes the best sentences of the retrieved passages, each with its
    # marker, or says it could not find the answer; generative: the model writes it; auto: the
    # platform's choice (extractive with the bundled small model, ``RAYLANE_LLM__GROUNDING``).
    answer_mode: Literal["auto", "extractive", "generative"] = "auto"

    @model_validator(mode="after")
    def _has_a_question(self) -> ChatBody:
        question_index([m.role for m in self.messages])
        return self


class Citation(Output):
    index: int
    document_id: uuid.UUID
    document_name: str
    chunk_id: uuid.UUID
    chunk_index: int
    score: float


class ChatUsage(Output):
    prompt_tokens: int
    completion_tokens: int


class ChatAnswer(Output):
    conversation_id: uuid.UUID | None
    message_id: uuid.UUID | None
    answer: str
    citations: list[Citation]
    usage: ChatUsage
    finish_reason: str


class MessageRead(Output):
    id: uuid.UUID
    role: str
    content: str
    citations: list[Citation] = Field(default_factory=list)
    created_at: datetime


class ConversationRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    title: str
    created_at: datetime
    messages: list[MessageRead] = Field(default_factory=list)


class UsageDay(Output):
    day: date
    requests: int
    input_tokens: int
    output_tokens: int


class UsageRead(Output):
    daily_token_quota: int
    tokens_used_today: int
    days: list[UsageDay]


# OpenAI-compatible shapes: lenient on input (clients send fields we do not use).
# ``tool`` and ``function`` messages are refused: the platform runs no tools.
OpenAIRole = Literal["system", "developer", "user", "assistant"]


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: OpenAIRole
    content: RawText | None = None


class OpenAIChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: RawText
    messages: list[OpenAIMessage] = Field(
        min_length=1, max_length=100, json_schema_extra=_HAS_USER_TURN
    )
    stream: Bool = False
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS), JSON_NUMBER] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS), JSON_NUMBER] | None = None
    temperature: Annotated[float, Field(ge=0, le=2), JSON_NUMBER] | None = None
    stop: RawText | list[RawText] | None = None
    user: RawText | None = None

    @model_validator(mode="after")
    def _has_a_question(self) -> OpenAIChatRequest:
        question_index([m.role for m in self.messages])
        return self

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)[:4]


def openai_model_list(models: list[str], created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": created, "owned_by": "raylane"} for m in models
        ],
    }
