"""The prompt: cited context passages, then the conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raylane.core.copilot.grounding import REFUSAL

if TYPE_CHECKING:
    from raylane.core.collections.search import Hit

# Small models follow short, concrete rules best: copy facts, cite, keep it short, and one fixed
# sentence when the passages do not hold the answer (the same one extractive answers use).
SYSTEM = (
    "You are Raylane's copilot. Answer the question in one to three short sentences, using only "
    "facts stated in the numbered context passages below. Copy names, numbers and settings "
    "exactly as the passages write them, and put the passage number after each fact, like [1]. "
    "Do not invent functions, commands or APIs, and do not repeat yourself. If the passages do "
    f"not answer the question, reply exactly: {REFUSAL}"
)


def build(
    passages: list[Hit], history: list[dict[str, str]], question: str, *, system: str | None = None
) -> list[dict[str, str]]:
    """OpenAI-style messages: system (with context), earlier turns, the question. ``system``
    (a copilot configuration's prompt) replaces the platform's; the passages still follow it."""
    if passages:
        context = "\n\n".join(
            f"[{i}] ({p.document_name}) {p.text}" for i, p in enumerate(passages, start=1)
        )
        system = f"{system or SYSTEM}\n\nContext passages:\n{context}"
    elif system is None:
        system = "You are Raylane's copilot, a helpful assistant. Answer concisely."
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]
