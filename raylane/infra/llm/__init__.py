"""LLM backends behind one streaming interface: llama.cpp in-process, or OpenAI-compatible HTTP."""

from __future__ import annotations

from raylane.config import Settings
from raylane.infra.llm.base import Delta, GenerationParams, LLMBackend, Usage


def backend_from_settings(settings: Settings) -> LLMBackend:
    """The configured backend (not loaded yet: models load on first use)."""
    if settings.llm.backend == "openai":
        from raylane.infra.llm.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend.from_settings(settings)
    from raylane.infra.llm.llamacpp import LlamaCppBackend

    return LlamaCppBackend.from_settings(settings)


def model_name(settings: Settings) -> str:
    """The name clients use for the configured LLM."""
    llm = settings.llm
    return (llm.openai_model or llm.model_name) if llm.backend == "openai" else llm.model_name


__all__ = [
    "Delta",
    "GenerationParams",
    "LLMBackend",
    "Usage",
    "backend_from_settings",
    "model_name",
]
