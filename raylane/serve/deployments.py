"""Serve deployments. ``build_app`` is the import path RayService and ``serve run`` use.

Resources and autoscaling come from ``configs/workloads.yaml`` (the one source of truth).
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle
from starlette.types import ASGIApp

from raylane.core.cluster.workloads import serve_options
from raylane.serve.embedder import Embedder

APP_NAME = "raylane"


@serve.deployment(name="ApiIngress", health_check_period_s=10)
@serve.ingress()
class ApiIngress:
    """The FastAPI app as a Serve ingress; settings come from the replica's environment."""

    def __init__(self, embedder: DeploymentHandle) -> None:
        from raylane.core.config import get_settings

        self._settings = get_settings()
        self._embedder = embedder

    def __serve_build_asgi_app__(self) -> ASGIApp:
        from raylane.serve.app import create_app

        async def embed(model: str, text: str) -> list[float]:
            vector: list[float] = await self._embedder.embed.remote(model, text)
            return vector

        return create_app(self._settings, embed=embed)


def build_app(args: dict[str, Any] | None = None) -> Application:
    """The Raylane Serve application graph: ApiIngress → Embedder."""
    embedder = Embedder.options(**serve_options("Embedder")).bind()  # type: ignore[attr-defined]
    return ApiIngress.options(**serve_options("ApiIngress")).bind(embedder)  # type: ignore[attr-defined,no-any-return]
