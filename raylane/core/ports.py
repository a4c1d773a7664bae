"""What the domain is handed by its host: Serve deployment handles under Serve, in-process models
and engines otherwise. Both sides satisfy these types, so routes and the engine never see which."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from raylane.core.rbac import Actor

Embed = Callable[[str, str], Awaitable[list[float]]]  # (model name, text) -> unit vector
Event = dict[str, Any]  # one event of a chat: token, citations, conversation, blocked, done ...


class Copilot(Protocol):
    """A chat backend: the Serve deployment's handle wrapper or the in-process engine."""

    model_name: str  # what the OpenAI-compatible API reports as the serving model

    def chat(self, actor: Actor, request: Any) -> AsyncGenerator[Event, None]:
        """The chat's events as they happen; the first arrives before any model output."""
        ...
