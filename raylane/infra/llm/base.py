"""The streaming interface every LLM backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Delta:
    """A piece of generated text; a stream's last one carries ``usage`` and ``finish_reason``."""

    text: str
    finish_reason: str | None = None  # "stop" | "length" on the last delta
    usage: Usage | None = None


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 256
    stop: list[str] = field(default_factory=list)
    temperature: float = 0.2
    # Constrain the output to JSON valid under this schema (llama.cpp: a grammar; OpenAI-compatible
    # servers: ``response_format``). None: free text.
    json_schema: dict[str, Any] | None = None


class LLMBackend(Protocol):
    model_name: str

    def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[Delta]:
        """Generate a reply to ``messages`` (OpenAI-style role/content dicts), token by token."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer (or a close estimate)."""
        ...
