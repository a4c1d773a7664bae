"""The Copilot deployment (Embedder → retrieval → prompt → LLM, through handles), and the port
the API uses to reach it. Outside Serve, ``LocalCopilot`` runs the same engine in-process."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from raylane.config import Settings, get_settings
from raylane.core.copilot.engine import ChatRequest, CopilotEngine, Event
from raylane.core.copilot.grounding import auto_mode
from raylane.core.quotas.service import TokenQuota
from raylane.core.rbac import Actor
from raylane.errors import RaylaneError, ServiceUnavailable
from raylane.infra.db.session import Database
from raylane.infra.db.urls import app_url
from raylane.infra.kv import async_client, redis_url
from raylane.infra.llm import Delta, GenerationParams, LLMBackend, Usage, backend_from_settings
from raylane.infra.llm.external import ExternalBackends

log = logging.getLogger(__name__)


def _delta(d: dict[str, Any]) -> Delta:
    usage = Usage(**d["usage"]) if d.get("usage") else None
    return Delta(d["text"], finish_reason=d.get("finish_reason"), usage=usage)


def _unwrap(exc: BaseException) -> BaseException:
    """Errors raised in a replica arrive wrapped; the API wants the domain error inside."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, RaylaneError):
        return cause
    if isinstance(exc, RaylaneError):
        return exc
    # The replica's own error text can name hosts, models or an upstream's reply: logs only.
    log.error("copilot replica failed", exc_info=exc)
    return ServiceUnavailable("copilot unavailable")


@serve.deployment(name="Copilot")
class Copilot:
    def __init__(self, embedder: DeploymentHandle[Any], llm: DeploymentHandle[Any]) -> None:
        settings = get_settings()
        self._db = Database(app_url(settings), pool_size=4)
        quota = TokenQuota(
            async_client(redis_url(settings)), daily_tokens=settings.quotas.daily_tokens
        )

        async def embed(model: str, text: str) -> list[float]:
            vector: list[float] = await embedder.embed.remote(model, text)
            return vector

        async def generate(
            messages: list[dict[str, str]], params: GenerationParams
        ) -> AsyncIterator[Delta]:
            stream = llm.options(stream=True).generate.remote(messages, params)
            async for d in cast(DeploymentResponseGenerator[Any], stream):
                yield _delta(d)

        self._engine = CopilotEngine(
            self._db,
            embed=embed,
            generate=generate,
            quota=quota,
            auto_mode=auto_mode(settings),
            backends=ExternalBackends(settings),
        )

    async def chat(self, actor: Actor, request: ChatRequest) -> AsyncGenerator[Event, None]:
        # Cancelled by the API when its client leaves: the engine's generator is closed there
        # and charges what was generated.
        async for event in self._engine.chat(actor, request):
            yield event


class ServeCopilot:
    """The API's view of the Copilot and LLM deployments."""

    def __init__(
        self, copilot: DeploymentHandle[Any], llm: DeploymentHandle[Any], model_name: str
    ) -> None:
        self._copilot, self._llm, self.model_name = copilot, llm, model_name

    async def chat(self, actor: Actor, request: ChatRequest) -> AsyncGenerator[Event, None]:
        stream = cast(
            DeploymentResponseGenerator[Event],
            self._copilot.options(stream=True).chat.remote(actor, request),
        )
        finished = False
        try:
            async for event in stream:
                yield event
            finished = True
        except Exception as exc:  # wrapped replica errors become our domain errors
            finished = True
            raise _unwrap(exc) from exc
        finally:
            if not finished:  # the client left: cancel the replica's chat (it settles the charge)
                stream.cancel()  # type: ignore[no-untyped-call]


class LocalCopilot:
    """The same engine in this process: plain uvicorn, tests, notebooks."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        embed: Any,
        quota: TokenQuota,
        backend: LLMBackend | None = None,
    ) -> None:
        self._backend = backend or backend_from_settings(settings)
        self.model_name = self._backend.model_name
        # auto: extractive for the bundled small model (the backend knows whether it runs it)
        mode = auto_mode(settings, bundled=bool(getattr(self._backend, "bundled", False)))
        self._engine = CopilotEngine(
            db,
            embed=embed,
            generate=self._backend.stream,
            quota=quota,
            auto_mode=mode,
            backends=ExternalBackends(settings),
        )

    def chat(self, actor: Actor, request: ChatRequest) -> AsyncGenerator[Event, None]:
        # The engine's own generator: closing it (a client gone) settles the charge at once.
        return self._engine.chat(actor, request)
