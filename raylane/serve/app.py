"""``create_app()``: a plain FastAPI app, testable without Ray; Serve wraps it in deployments.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from raylane import __version__
from raylane.config import Settings, get_settings
from raylane.core.ports import Copilot, Embed
from raylane.infra import embeddings
from raylane.serve import console, errors, openapi
from raylane.serve.middleware import BodyLimit, RequestContext
from raylane.serve.platform import Platform
from raylane.serve.routes import (
    agent_tests,
    api_keys,
    audit,
    collections,
    conversations,
    copilot,
    datasets,
    endpoints,
    experiments,
    flags,
    guardrails,
    health,
    me,
    observability,
    openai,
    organizations,
    predict,
    projects,
    registry,
    rollouts,
    runs,
    training,
    usage,
    users,
)

# FastAPI tries routes in this order and walks every one before the match (~5 µs each): the data
# plane (search, chat, runs, projects) comes first, the administrative routes after it.
ROUTERS = [
    collections,
    copilot,
    openai,
    conversations,
    runs,
    training,
    predict,
    endpoints,
    projects,
    datasets,
    experiments,
    registry,
    agent_tests,
    rollouts,
    usage,
    me,
    health,
    organizations,
    users,
    api_keys,
    flags,
    audit,
    guardrails,
    observability,
]


def operation_id(route: APIRoute) -> str:
    """The route function's name (``create_project``): short, stable ids for generated clients.
    Route names are unique verb_noun names (a unit test checks it)."""
    return route.name


def create_app(
    settings: Settings | None = None, *, embed: Embed | None = None, copilot: Copilot | None = None
) -> FastAPI:
    """Build the API. Engines and clients are opened in the lifespan, never here.

    ``embed`` and ``copilot`` run in-process by default; under Serve they are deployment handles.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.platform = Platform.open(settings, embed=embed, copilot=copilot)
        try:
            yield
        finally:
            await app.state.platform.close()

    app = FastAPI(
        title="Raylane",
        version=__version__,
        description="Multi-tenant AI platform on Ray. "
        "Authenticate with `Authorization: Bearer rl_...`.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    errors.install(app)
    openapi.install(app, embedding_models=embeddings.names(settings))
    for module in ROUTERS:
        app.include_router(module.router)
    console.install(app)  # the web console's static files, after every API route
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api.max_body_bytes,
        upload_bytes=settings.documents.max_upload_bytes,
    )
    app.add_middleware(RequestContext)
    return app
