"""Callables the domain is handed by its host (Serve deployment handles, or in-process models)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Embed = Callable[[str, str], Awaitable[list[float]]]  # (model name, text) -> unit vector
