"""Serve deployments. ``build_app`` is the import path RayService and ``serve run`` use.

Resources and autoscaling come from ``configs/workloads.yaml`` (the one source of truth).
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle
from starlette.types import ASGIApp

from raylane.infra.workloads import serve_options
from raylane.serve.copilot import Copilot
from raylane.serve.embedder import Embedder
from raylane.serve.llm import LLM
from raylane.serve.models import DEFAULT_LRU_SIZE, ModelServer
from raylane.serve.router import EndpointRouter


@serve.deployment(name="ApiIngress", health_check_period_s=10)
@serve.ingress()
class ApiIngress:
    """The FastAPI app as a Serve ingress; settings come from the replica's environment."""

    def __init__(
        self,
        embedder: DeploymentHandle[Any],
        copilot: DeploymentHandle[Any],
        llm: DeploymentHandle[Any],
        models: DeploymentHandle[Any] | None = None,
        router: DeploymentHandle[Any] | None = None,
    ) -> None:
        from raylane.config import get_settings

        self._settings = get_settings()
        self._embedder, self._copilot, self._llm = embedder, copilot, llm
        self._models, self._router = models, router
        # Runs need the reconciler wherever the API runs (local head or KubeRay), and rollouts
        # their orchestrator: get-or-create, one of each per platform.
        from raylane.actors import rollout_orchestrator
        from raylane.actors.run_reconciler import ensure_running

        ensure_running(self._settings)
        rollout_orchestrator.ensure_running(self._settings)

    def __serve_build_asgi_app__(self) -> ASGIApp:
        from raylane.infra.llm import model_name
        from raylane.serve.app import create_app
        from raylane.serve.copilot import ServeCopilot

        async def embed(model: str, text: str) -> list[float]:
            vector: list[float] = await self._embedder.embed.remote(model, text)
            return vector

        copilot = ServeCopilot(self._copilot, self._llm, model_name(self._settings))
        app = create_app(self._settings, embed=embed, copilot=copilot)
        if self._models is not None:
            from raylane.serve.models import ServeModels

            app.state.predictor = ServeModels(self._models)
        if self._router is not None:
            from raylane.serve.router import ServeEndpointRouter

            app.state.endpoint_router = ServeEndpointRouter(self._router)
        return app


def build_app(args: dict[str, Any] | None = None) -> Application:
    """The graph: ApiIngress → Embedder, ApiIngress → Copilot → (Embedder, LLM),
    ApiIngress → ModelServer (``args["model_lru_size"]`` versions per replica), and
    ApiIngress → EndpointRouter → (ModelServer, Copilot) for endpoints."""
    embedder = Embedder.options(**serve_options("Embedder")).bind()  # type: ignore[attr-defined]
    llm = LLM.options(**serve_options("LLM")).bind()  # type: ignore[attr-defined]
    copilot = Copilot.options(**serve_options("Copilot")).bind(embedder, llm)  # type: ignore[attr-defined]
    lru_size = int((args or {}).get("model_lru_size", DEFAULT_LRU_SIZE))
    models = ModelServer.options(**serve_options("ModelServer")).bind(lru_size)  # type: ignore[attr-defined]
    router = EndpointRouter.options(**serve_options("EndpointRouter")).bind(models, copilot, llm)  # type: ignore[attr-defined]
    ingress = ApiIngress.options(**serve_options("ApiIngress"))  # type: ignore[attr-defined]
    return ingress.bind(embedder, copilot, llm, models, router)  # type: ignore[no-any-return]
