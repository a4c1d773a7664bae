"""Which version answers a request: the pure part of the endpoint router.

With a sticky key (a user or session id), ``sha256(endpoint id + key)`` puts the key in one of
10,000 buckets, and buckets below ``weight * 100`` go to the canary: one key sees one version
for as long as the weight stays put, and raising the weight only moves keys from stable to
canary, never back. Without a key, a uniform draw decides.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Literal

Variant = Literal["stable", "canary"]
BUCKETS = 10_000


@dataclass(frozen=True)
class Version:
    """One version an endpoint serves: its ref (model or configuration version id), its label
    (the version number, what the ``X-Raylane-Version`` header says), and what serving it
    needs (a model version's artifact; a configuration's spec)."""

    ref: uuid.UUID
    label: str
    target: dict[str, Any]


@dataclass(frozen=True)
class Split:
    """An endpoint as the router sees it (loaded with its tenant's session, then cached)."""

    endpoint_id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    kind: str
    subject: str
    stable: Version
    canary: Version | None
    weight: int  # percent of requests to the canary
    sticky_header: str | None
    generation: int


def bucket(endpoint_id: uuid.UUID | str, key: str) -> int:
    """The key's bucket in [0, 10000) for this endpoint (the endpoint id salts it, so one user
    is not the first to see every canary of every endpoint)."""
    digest = hashlib.sha256(f"{endpoint_id}{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def choose(endpoint_id: uuid.UUID | str, split: Split, key: str | None, draw: float) -> Variant:
    """``canary`` for ``split.weight`` percent of requests, else ``stable``.

    Args:
        endpoint_id: salts the key's hash.
        split: the endpoint's canary (None: always stable) and weight.
        key: the sticky key, or None.
        draw: a uniform number in [0, 1), used only without a key.
    """
    if split.canary is None or split.weight <= 0:
        return "stable"
    if split.weight >= 100:
        return "canary"
    if key is not None:
        return "canary" if bucket(endpoint_id, key) < split.weight * (BUCKETS // 100) else "stable"
    return "canary" if draw < split.weight / 100 else "stable"
