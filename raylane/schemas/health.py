"""Health report."""

from __future__ import annotations

from typing import Literal

from raylane.schemas.common import Output


class ComponentHealth(Output):
    status: Literal["up", "down"]
    latency_ms: float
    detail: str | None = None


class HealthRead(Output):
    status: Literal["ok", "degraded"]
    components: dict[str, ComponentHealth]
