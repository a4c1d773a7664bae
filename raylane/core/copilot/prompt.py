"""The prompt: cited context passages, then the conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raylane.core.collections.search import Hit

SYSTEM = (
    "You are Raylane's copilot. Answer the user's question using only the numbered context "
    "passages below. Cite the passages you use like [1] or [2]. If the passages do not contain "
    "the answer, say that you do not know."
)


def build(
    passages: list[Hit], history: list[dict[str, str]], question: str
) -> list[dict[str, str]]:
    """OpenAI-style messages: system (with context), earlier turns, the question."""
    if passages:
        context = "\n\n".join(
            f"[{i}] ({p.document_name}) {p.text}" for i, p in enumerate(passages, start=1)
        )
        system = f"{SYSTEM}\n\nContext passages:\n{context}"
    else:
        system = "You are Raylane's copilot, a helpful assistant. Answer concisely."
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]
