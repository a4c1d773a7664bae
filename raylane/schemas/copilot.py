"""Copilot chat, conversations, usage, and the OpenAI-compatible wire shapes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raylane.schemas.common import Input, Output


class ChatMessage(Input):
    model_config = ConfigDict(extra="forbid")  # content and stop strings keep their whitespace

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=100_000)


class ChatBody(Input):
    """The last message is the question; earlier ones are history (unless continuing a
    stored conversation, whose own history is used)."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    conversation_id: uuid.UUID | None = None
    collection_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    top_k: int = Field(default=4, ge=1, le=20)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.2, ge=0, le=2)
    stop: list[str] = Field(default_factory=list, max_length=4)
    stream: bool = False

    @model_validator(mode="after")
    def _ends_with_user(self) -> ChatBody:
        if self.messages[-1].role != "user":
            raise ValueError("the last message must come from the user")
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
class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | None = None


class OpenAIChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stop: str | list[str] | None = None
    user: str | None = None

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
