"""Serve deployments. ``build_app`` is the import path RayService and ``serve run`` use."""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application
from starlette.types import ASGIApp

APP_NAME = "raylane"


@serve.deployment(
    name="ApiIngress",
    max_ongoing_requests=200,
    health_check_period_s=10,
    ray_actor_options={"num_cpus": 0.25},
)
@serve.ingress()
class ApiIngress:
    """The FastAPI app as a Serve ingress; settings come from the replica's environment."""

    def __init__(self) -> None:
        from raylane.core.config import get_settings

        self._settings = get_settings()

    def __serve_build_asgi_app__(self) -> ASGIApp:
        from raylane.serve.app import create_app

        return create_app(self._settings)


def build_app(args: dict[str, Any] | None = None) -> Application:
    """The Raylane Serve application graph."""
    replicas = int((args or {}).get("api_replicas", 1))
    return ApiIngress.options(num_replicas=replicas).bind()  # type: ignore[attr-defined,no-any-return]
