"""The LLM deployment: one configured backend per replica, streamed through handles."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from raylane.config import get_settings
from raylane.infra.llm import GenerationParams, backend_from_settings


@serve.deployment(name="LLM")
class LLM:
    def __init__(self) -> None:
        self._backend = backend_from_settings(get_settings())

    async def generate(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream deltas as plain dicts (called with ``handle.options(stream=True)``)."""
        async for delta in self._backend.stream(messages, params):
            yield dataclasses.asdict(delta)

    def count_tokens(self, text: str) -> int:
        return self._backend.count_tokens(text)

    def model_name(self) -> str:
        return self._backend.model_name
