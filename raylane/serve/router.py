"""The endpoint router: one URL, a stable and a canary version, split by weight.

``EndpointRouting`` is the router itself: it loads an endpoint's split with the caller's
tenant session (cached per organization and endpoint for ``SPLIT_TTL_S``, one load at a time
per endpoint), picks the version (``core.endpoints.routing.choose``), asks the model server
(multiplexed by version id) or the copilot (with the configuration's settings applied), and
counts the outcome per version in Redis (``core.endpoints.stats.Recorder``: in memory on the
request's path, one pipelined write every 0.25 s), which is what a rollout's analysis reads.
``EndpointRouter`` is the Serve deployment running it between the API and the ``ModelServer``
/ ``Copilot`` deployments; ``ServeEndpointRouter`` is the API's side of that
deployment; ``local_router`` runs it in the API's process (plain uvicorn, tests).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from raylane.core.copilot.engine import ChatRequest, Event
from raylane.core.endpoints import configs, stats
from raylane.core.endpoints.models import EndpointKind
from raylane.core.endpoints.routing import Split, Variant, Version, choose
from raylane.core.endpoints.service import endpoint_service
from raylane.core.ports import Copilot as CopilotPort
from raylane.core.rbac import Actor
from raylane.core.training.tracking import ModelRef
from raylane.errors import Conflict, RaylaneError, ServiceUnavailable
from raylane.infra.db.session import Database
from raylane.serve.copilot import _unwrap

if TYPE_CHECKING:  # the model server's module loads torch: the router replica never needs it
    from raylane.serve.models import Predictor

log = logging.getLogger(__name__)

# How stale a router's view of a split may be: a weight set by a rollout (or by hand) reaches
# every router within this long, and an endpoint costs one small read a second per router.
SPLIT_TTL_S = 1.0
MAX_CACHED = 10_000  # endpoints per router; past it the cache starts over
ROUTE = "route"  # the first event of a routed chat: which version answers


# Headers never passed on to the router: credentials stay in the API process.
PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


def sticky_key(split: Split, key: str | None, headers: Mapping[str, str] | None) -> str | None:
    """The request's sticky key: the endpoint's ``sticky_header`` if it has one and the request
    sends it, else the body's ``key`` (None: no stickiness, a draw decides)."""
    if split.sticky_header and headers:
        value = headers.get(split.sticky_header.lower())
        if value:
            return value
    return key


def public_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A request's headers (lowercase names) without credentials, for ``sticky_key``."""
    return {k.lower(): v for k, v in headers.items() if k.lower() not in PRIVATE_HEADERS}


def version_error(exc: Exception, version: str, variant: Variant) -> RaylaneError:
    """The error a version's failure answers with: the domain error (or 503 for any other),
    naming the version and variant that failed (``version``, ``variant`` in the body)."""
    if isinstance(exc, RaylaneError):
        error = exc
    else:
        log.error("endpoint version %s failed", version, exc_info=exc)
        error = ServiceUnavailable(f"version {version} is unavailable")
    error.extra.update(version=version, variant=variant)
    return error


def is_fault(exc: BaseException) -> bool:
    """Whether an error counts against the version that raised it: a failure of the service
    (unavailable, or not one of ours), not the caller's (bad input, not found, quota)."""
    return isinstance(exc, ServiceUnavailable) or not isinstance(exc, RaylaneError)


class EndpointRouting:
    def __init__(
        self,
        db: Database,
        kv: aioredis.Redis,
        predictor: Predictor,
        copilot: CopilotPort,
        *,
        max_tokens_limit: int | None = None,
        ttl_s: float = SPLIT_TTL_S,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db, self._kv = db, kv
        self._predictor, self._copilot = predictor, copilot
        self._max_tokens = max_tokens_limit
        self._ttl, self._draw, self._clock = ttl_s, draw, clock
        # Keyed by organization too: an id alone must never reach another tenant's split.
        self._cache: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, Split]] = {}
        self._recorder = stats.Recorder(kv)
        self._loading: dict[tuple[uuid.UUID, uuid.UUID], asyncio.Future[Split]] = {}

    async def split(self, actor: Actor, endpoint_id: uuid.UUID) -> Split:
        """The endpoint's split as of at most ``ttl_s`` ago.

        Raises:
            NotFound: not the caller's endpoint.
        """
        key = (actor.organization_id, endpoint_id)
        hit = self._cache.get(key)
        if hit is not None and self._clock() - hit[0] < self._ttl:
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:  # one load per endpoint at a time; the others wait for it
            return await asyncio.shield(pending)
        future: asyncio.Future[Split] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            async with self._db.session(organization_id=actor.organization_id) as session:
                found = await endpoint_service.load_split(session, endpoint_id=endpoint_id)
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = (self._clock(), found)
            future.set_result(found)
            return found
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._loading[key]

    def pick(
        self, split: Split, key: str | None, headers: Mapping[str, str] | None = None
    ) -> tuple[Variant, Version]:
        """The variant and version for a request with this body ``key`` and ``headers``."""
        variant = choose(split.endpoint_id, split, sticky_key(split, key, headers), self._draw())
        version = split.canary if variant == "canary" and split.canary else split.stable
        return variant, version

    async def predict(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        texts: list[str],
        key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``{"version", "variant", "predictions"}`` from the version the split picks.

        Raises:
            NotFound: not the caller's endpoint. Conflict: a copilot endpoint.
        """
        split = await self.split(actor, endpoint_id)
        if split.kind != EndpointKind.MODEL:
            raise Conflict("this endpoint serves a copilot configuration: use /chat")
        variant, version = self.pick(split, key, headers)
        ref = ModelRef(
            version_id=str(version.ref),
            artifact_key=version.target["artifact_key"],
            name=split.subject,
            version=version.label,
        )
        started = time.perf_counter()
        try:
            rows = await self._predictor.predict(ref, texts)
        except Exception as exc:
            if not is_fault(exc):
                raise
            await self._record(split, version, started, ok=False)
            raise version_error(exc, version.label, variant) from exc
        await self._record(split, version, started, ok=True)
        return {"version": version.label, "variant": variant, "predictions": rows}

    async def chat(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        request: ChatRequest,
        key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[Event, None]:
        """The routed chat's events: first ``{"type": "route", "version", "variant"}``, then
        the copilot's, answered with the picked configuration's settings.

        Raises:
            NotFound: not the caller's endpoint. Conflict: a model endpoint. And what the
            copilot's chat raises.
        """
        split = await self.split(actor, endpoint_id)
        if split.kind != EndpointKind.COPILOT:
            raise Conflict("this endpoint serves a model: use /predict")
        variant, version = self.pick(split, key, headers)
        routed = configs.apply(
            replace(request, project_id=split.project_id),
            version.target,
            max_tokens_limit=self._max_tokens,
        )
        yield {"type": ROUTE, "version": version.label, "variant": variant}
        started = time.perf_counter()
        blocked, tokens, fault, counted = False, 0, False, True
        events = self._copilot.chat(actor, routed)
        try:
            async for event in events:
                if event["type"] == "blocked":
                    blocked = True
                elif event["type"] == "done":
                    usage = event.get("usage") or {}
                    tokens = int(usage.get("prompt_tokens", 0)) + int(
                        usage.get("completion_tokens", 0)
                    )
                yield event
        except Exception as exc:
            # The caller's own error (quota, bad input) is not counted: it says nothing about
            # the version. A client gone (GeneratorExit) counts as answered.
            fault = counted = is_fault(exc)
            if fault:
                raise version_error(exc, version.label, variant) from exc
            raise
        finally:
            await events.aclose()
            if counted:
                await self._record(
                    split, version, started, ok=not fault, blocked=blocked, tokens=tokens
                )

    async def _record(
        self,
        split: Split,
        version: Version,
        started: float,
        *,
        ok: bool,
        blocked: bool = False,
        tokens: int = 0,
    ) -> None:
        self._recorder.add(
            endpoint_id=split.endpoint_id,
            version=version.label,
            ok=ok,
            latency_ms=(time.perf_counter() - started) * 1000,
            blocked=blocked,
            tokens=tokens,
        )

    async def flush(self) -> None:
        """Write the per-version counts not written yet (they are written every 0.25 s)."""
        await self._recorder.flush()


def local_router(
    platform: Any, predictor: Predictor, *, draw: Callable[[], float] = random.random
) -> EndpointRouting:
    """The router in the API's process, over the platform's database, Redis and copilot."""
    return EndpointRouting(
        platform.db,
        platform.redis,
        predictor,
        platform.copilot,
        max_tokens_limit=platform.settings.llm.max_tokens_limit,
        draw=draw,
    )


class _ModelServer:
    """``ServeModels`` without its module (which loads torch for the in-process LRU): calls
    ``ModelServer`` with the version id as the multiplexed model id."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._handle = handle

    async def predict(self, ref: ModelRef, texts: list[str]) -> list[dict[str, Any]]:
        handle = self._handle.options(multiplexed_model_id=ref.version_id)
        result: list[dict[str, Any]] = await handle.predict.remote(ref.artifact_key, texts)
        return result


@serve.deployment(name="EndpointRouter", health_check_period_s=10)
class EndpointRouter:
    """The router between the API and the ``ModelServer`` / ``Copilot`` deployments."""

    def __init__(
        self,
        models: DeploymentHandle[Any],
        copilot: DeploymentHandle[Any],
        llm: DeploymentHandle[Any],
    ) -> None:
        from raylane.config import get_settings
        from raylane.infra.db.urls import app_url
        from raylane.infra.kv import async_client, redis_url
        from raylane.infra.llm import model_name
        from raylane.serve.copilot import ServeCopilot

        settings = get_settings()
        self._routing = EndpointRouting(
            Database(app_url(settings), pool_size=4),
            async_client(redis_url(settings)),
            _ModelServer(models),
            ServeCopilot(copilot, llm, model_name(settings)),
            max_tokens_limit=settings.llm.max_tokens_limit,
        )

    async def predict(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        texts: list[str],
        key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self._routing.predict(actor, endpoint_id, texts, key, headers)

    async def chat(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        request: ChatRequest,
        key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[Event, None]:
        async for event in self._routing.chat(actor, endpoint_id, request, key, headers):
            yield event


class ServeEndpointRouter:
    """The API's side of the ``EndpointRouter`` deployment (same methods as the router)."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._handle = handle

    async def predict(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        texts: list[str],
        key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self._handle.predict.remote(
                actor, endpoint_id, texts, key, headers
            )
        except Exception as exc:  # wrapped replica errors become our domain errors
            raise _unwrap(exc) from exc
        return result

    async def chat(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        request: ChatRequest,
        key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[Event, None]:
        stream = cast(
            DeploymentResponseGenerator[Event],
            self._handle.options(stream=True).chat.remote(
                actor, endpoint_id, request, key, headers
            ),
        )
        finished = False
        try:
            async for event in stream:
                yield event
            finished = True
        except Exception as exc:
            finished = True
            raise _unwrap(exc) from exc
        finally:
            if not finished:  # the client left: cancel the router's chat (and the copilot's)
                stream.cancel()  # type: ignore[no-untyped-call]
