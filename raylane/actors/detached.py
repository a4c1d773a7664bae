"""Get-or-create a detached platform actor by name and start its loop."""

from __future__ import annotations

import os
from typing import Any

import ray

from raylane.config import Settings


def ensure_started(actor_class: Any, name: str, settings: Settings) -> None:
    """Start the detached ``actor_class`` named ``name`` if absent (Ray keeps one per name in
    the namespace), with the platform's settings and Ray credentials in its environment, then
    its loop (``start`` is idempotent)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("RAYLANE_", "RAY_AUTH"))}
    actor = actor_class.options(
        name=name,
        namespace=settings.ray.namespace,
        lifetime="detached",
        get_if_exists=True,
        runtime_env={"env_vars": env},
    ).remote()
    ray.get(actor.start.remote(), timeout=60)
