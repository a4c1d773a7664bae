"""Endpoints (one URL, a stable and a canary version) and copilot configurations."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Request, Response

from raylane.core.copilot.engine import ChatRequest, Event
from raylane.core.endpoints import stats
from raylane.core.endpoints.configs import copilot_config_service, public_spec
from raylane.core.endpoints.models import CopilotConfigVersion
from raylane.core.endpoints.service import endpoint_service
from raylane.core.rbac import Permission
from raylane.errors import InvalidInput, RaylaneError
from raylane.infra.metrics import (
    ENDPOINT_BLOCKS,
    ENDPOINT_REQUESTS,
    ENDPOINT_SECONDS,
    ENDPOINT_TOKENS,
)
from raylane.schemas.common import DateTime, Page
from raylane.schemas.copilot import question_index
from raylane.schemas.endpoints import (
    CopilotConfigCreate,
    CopilotConfigRead,
    CopilotConfigVersionRead,
    EndpointChat,
    EndpointChatAnswer,
    EndpointCreate,
    EndpointMetrics,
    EndpointPredict,
    EndpointPredictResponse,
    EndpointRead,
    SplitUpdate,
    VersionWindow,
)
from raylane.serve.chat import drain, generation, started
from raylane.serve.deps import (
    ActorDep,
    PageDep,
    PlatformDep,
    ReleasedActorDep,
    SessionDep,
    page_of,
    require,
)
from raylane.serve.router import ROUTE, EndpointRouting, is_fault, local_router, public_headers
from raylane.serve.routes.copilot import sse
from raylane.serve.routes.predict import predictor
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["endpoints"], route_class=Route)
READ = [require(Permission.ENDPOINT_READ)]
WRITE = [require(Permission.ENDPOINT_WRITE)]
MAX_WINDOW = timedelta(days=2)  # what the per-version buckets keep
DEFAULT_WINDOW = timedelta(minutes=5)


def endpoint_router(request: Request) -> Any:
    """The app's router: the ``EndpointRouter`` deployment under Serve, else in-process."""
    state = request.app.state
    if getattr(state, "endpoint_router", None) is None:
        state.endpoint_router = local_router(state.platform, predictor(request))
    found: EndpointRouting = state.endpoint_router
    return found


def _version(v: CopilotConfigVersion) -> CopilotConfigVersionRead:
    read = CopilotConfigVersionRead.model_validate(v)
    return read.model_copy(update={"spec": public_spec(read.spec)})


def _served(response: Response, version: str, variant: str) -> None:
    response.headers["X-Raylane-Version"] = version
    response.headers["X-Raylane-Variant"] = variant


def _observe(
    endpoint_id: uuid.UUID,
    version: str,
    seconds: float,
    *,
    ok: bool,
    blocked: bool = False,
    tokens: int = 0,
) -> None:
    endpoint = str(endpoint_id)
    ENDPOINT_REQUESTS.labels(endpoint, version, "ok" if ok else "error").inc()
    ENDPOINT_SECONDS.labels(endpoint, version).observe(seconds)
    if blocked:
        ENDPOINT_BLOCKS.labels(endpoint, version).inc()
    if tokens:
        ENDPOINT_TOKENS.labels(endpoint, version).inc(tokens)


# --- copilot configurations ---------------------------------------------------------------


@router.post("/projects/{project_id}/copilot-configs", status_code=201, dependencies=WRITE)
async def add_copilot_config_version(
    project_id: uuid.UUID,
    data: CopilotConfigCreate,
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
    response: Response,
) -> CopilotConfigVersionRead:
    """Store a copilot configuration's spec as the named configuration's next version; the
    same spec as an existing version answers that version with 200 (nothing new stored).
    A spec's own LLM endpoint must pass the egress rule (422 if not); its API key is stored
    sealed and never returned."""
    added = await copilot_config_service.add_version(
        session,
        actor=actor,
        project_id=project_id,
        data=data,
        allow_private_llm=platform.settings.copilot.allow_private_llm,
    )
    if not added.created:
        response.status_code = 200
    return _version(added.version)


@router.get("/projects/{project_id}/copilot-configs", dependencies=READ)
async def list_copilot_configs(
    project_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[CopilotConfigRead]:
    """The project's copilot configurations, oldest first."""
    result = await copilot_config_service.page(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, CopilotConfigRead)  # type: ignore[no-any-return]


@router.get("/copilot-configs/{config_id}", dependencies=READ)
async def get_copilot_config(config_id: uuid.UUID, session: SessionDep) -> CopilotConfigRead:
    found = await copilot_config_service.get(session, config_id=config_id)
    return CopilotConfigRead.model_validate(found)


@router.get("/copilot-configs/{config_id}/versions", dependencies=READ)
async def list_copilot_config_versions(
    config_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[CopilotConfigVersionRead]:
    """The configuration's versions, newest first, each with its spec."""
    result = await copilot_config_service.versions(
        session, config_id=config_id, limit=page.limit, cursor=page.cursor
    )
    return Page[CopilotConfigVersionRead](
        items=[_version(v) for v in result.items], next_cursor=result.next_cursor
    )


@router.get("/copilot-configs/{config_id}/versions/{version}", dependencies=READ)
async def get_copilot_config_version(
    config_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000_000)],
    session: SessionDep,
) -> CopilotConfigVersionRead:
    config = await copilot_config_service.get(session, config_id=config_id)
    return _version(await copilot_config_service.version(session, config=config, number=version))


# --- endpoints ----------------------------------------------------------------------------


@router.post("/projects/{project_id}/endpoints", status_code=201, dependencies=WRITE)
async def create_endpoint(
    project_id: uuid.UUID, data: EndpointCreate, session: SessionDep, actor: ActorDep
) -> EndpointRead:
    """An endpoint serving a registered model or a copilot configuration; ``stable`` (a
    version number, or for models an alias such as ``production``) is resolved and pinned."""
    endpoint = await endpoint_service.create(session, actor=actor, project_id=project_id, data=data)
    return EndpointRead.model_validate(endpoint)


@router.get("/projects/{project_id}/endpoints", dependencies=READ)
async def list_endpoints(
    project_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[EndpointRead]:
    """The project's endpoints, oldest first."""
    result = await endpoint_service.page(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, EndpointRead)  # type: ignore[no-any-return]


@router.get("/endpoints/{endpoint_id}", dependencies=READ)
async def get_endpoint(endpoint_id: uuid.UUID, session: SessionDep) -> EndpointRead:
    return EndpointRead.model_validate(await endpoint_service.get(session, endpoint_id=endpoint_id))


@router.delete("/endpoints/{endpoint_id}", status_code=204, dependencies=WRITE)
async def delete_endpoint(endpoint_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> None:
    """Delete an endpoint (409 while a rollout is active on it)."""
    await endpoint_service.delete(session, actor=actor, endpoint_id=endpoint_id)


@router.put("/endpoints/{endpoint_id}/split", dependencies=WRITE)
async def set_endpoint_split(
    endpoint_id: uuid.UUID, data: SplitUpdate, session: SessionDep, actor: ActorDep
) -> EndpointRead:
    """Send ``weight`` percent of requests to version ``canary`` (``null`` clears it). Refused
    with 409 while a rollout is active on the endpoint: the rollout owns the split."""
    endpoint = await endpoint_service.split(
        session, actor=actor, endpoint_id=endpoint_id, data=data
    )
    return EndpointRead.model_validate(endpoint)


@router.get("/endpoints/{endpoint_id}/metrics", dependencies=READ)
async def get_endpoint_metrics(
    endpoint_id: uuid.UUID,
    session: SessionDep,
    platform: PlatformDep,
    since: Annotated[DateTime | None, Query()] = None,
    until: Annotated[DateTime | None, Query()] = None,
) -> EndpointMetrics:
    """Requests, errors, guardrail blocks, tokens and p95 latency of the stable and the canary
    version over ``[since, until)`` (default: the last 5 minutes; 5-second resolution, at
    most the last 2 days)."""
    endpoint = await endpoint_service.get(session, endpoint_id=endpoint_id)
    end = until or datetime.now(UTC)
    start = since or end - DEFAULT_WINDOW
    if start > end:
        raise InvalidInput("since is after until")
    if end - start > MAX_WINDOW:
        raise InvalidInput("a metrics window is at most 2 days")

    async def window(version: str) -> VersionWindow:
        found = await stats.window(
            platform.redis,
            endpoint_id=endpoint.id,
            version=version,
            start=start.timestamp(),
            end=end.timestamp(),
        )
        return VersionWindow(
            version=version,
            requests=found.requests,
            errors=found.errors,
            blocked=found.blocked,
            tokens=found.tokens,
            error_rate=found.error_rate,
            block_rate=found.block_rate,
            p95_ms=found.p95_ms,
        )

    return EndpointMetrics(
        endpoint_id=endpoint.id,
        since=start,
        until=end,
        stable=await window(endpoint.stable_label),
        canary=await window(endpoint.canary_label) if endpoint.canary_label else None,
    )


# --- serving ------------------------------------------------------------------------------


@router.post("/endpoints/{endpoint_id}/predict", dependencies=READ)
async def predict_endpoint(
    endpoint_id: uuid.UUID,
    data: EndpointPredict,
    actor: ReleasedActorDep,
    request: Request,
    response: Response,
) -> EndpointPredictResponse:
    """Labels and probabilities from the version the split picks for this request (a model
    endpoint; a copilot endpoint is 409). ``X-Raylane-Version`` names the version."""
    started_at = time.perf_counter()
    try:
        served = await endpoint_router(request).predict(
            actor, endpoint_id, data.inputs, data.key, public_headers(request.headers)
        )
    except RaylaneError as exc:
        if "version" in exc.extra:  # the version failed (not the caller): count it
            _observe(endpoint_id, exc.extra["version"], time.perf_counter() - started_at, ok=False)
        raise
    _observe(endpoint_id, served["version"], time.perf_counter() - started_at, ok=True)
    _served(response, served["version"], served["variant"])
    return EndpointPredictResponse(endpoint_id=endpoint_id, **served)


class _Tally:
    """What a routed chat's events said, for the API's per-version metrics."""

    def __init__(self, endpoint_id: uuid.UUID, version: str) -> None:
        self.endpoint_id, self.version = endpoint_id, version
        self.started = time.perf_counter()
        self.blocked, self.tokens = False, 0

    def see(self, event: Event) -> Event:
        if event["type"] == "blocked":
            self.blocked = True
        elif event["type"] == "done":
            usage = event.get("usage") or {}
            self.tokens = int(usage.get("prompt_tokens", 0)) + int(
                usage.get("completion_tokens", 0)
            )
        return event

    def done(self, *, ok: bool) -> None:
        seconds = time.perf_counter() - self.started
        _observe(
            self.endpoint_id, self.version, seconds, ok=ok, blocked=self.blocked, tokens=self.tokens
        )


class _Tallied:
    """The rest of a routed chat's events, tallied as they pass. Closing it closes the chat
    even before its first event is read (a client gone while the head was being sent): a
    generator that never started would skip its ``finally`` and keep the chat slot."""

    def __init__(self, rest: AsyncGenerator[Event, None], tally: _Tally) -> None:
        self._rest, self._tally, self._done = rest, tally, False

    def __aiter__(self) -> _Tallied:
        return self

    async def __anext__(self) -> Event:
        try:
            return self._tally.see(await self._rest.__anext__())
        except StopAsyncIteration:
            self._finish(ok=True)
            raise
        except Exception as exc:
            self._finish(ok=not is_fault(exc) and "version" not in getattr(exc, "extra", {}))
            raise

    async def aclose(self) -> None:
        await self._rest.aclose()
        self._finish(ok=True)  # a client gone counts as answered

    def _finish(self, *, ok: bool) -> None:
        if not self._done:
            self._done = True
            self._tally.done(ok=ok)


@router.post(
    "/endpoints/{endpoint_id}/chat",
    dependencies=[require(Permission.ENDPOINT_READ), require(Permission.COPILOT_USE)],
    response_model=EndpointChatAnswer,
)
async def chat_endpoint(
    endpoint_id: uuid.UUID,
    data: EndpointChat,
    actor: ReleasedActorDep,
    platform: PlatformDep,
    request: Request,
    response: Response,
) -> Any:
    """The copilot chat (same body, same answer or Server-Sent Events with ``stream``) answered
    by the configuration version the split picks for this request (a copilot endpoint; a model
    endpoint is 409). ``X-Raylane-Version`` names the configuration version."""
    at = question_index([m.role for m in data.messages])
    chat = ChatRequest(
        question=data.messages[at].content,
        conversation_id=data.conversation_id,
        history=[m.model_dump() for i, m in enumerate(data.messages) if i != at],
        collection_ids=data.collection_ids,
        top_k=data.top_k,
        params=generation(platform, data.max_tokens, data.temperature, data.stop),
        answer_mode=data.answer_mode,
    )
    routing = endpoint_router(request)
    headers = public_headers(request.headers)

    def via(actor: Any, routed: ChatRequest) -> AsyncGenerator[Event, None]:
        return routing.chat(actor, endpoint_id, routed, data.key, headers)  # type: ignore[no-any-return]

    started_at = time.perf_counter()
    try:
        head, rest = await started(platform, actor, chat, via)
    except RaylaneError as exc:
        if "version" in exc.extra:  # the version failed before answering: count it
            _observe(endpoint_id, exc.extra["version"], time.perf_counter() - started_at, ok=False)
        raise
    route = head.pop(0)  # the router's first event: which version answers
    assert route["type"] == ROUTE
    tally = _Tally(endpoint_id, route["version"])
    tally.started = started_at
    for event in head:
        tally.see(event)
    rest = cast(AsyncGenerator[Event, None], _Tallied(rest, tally))
    if data.stream:
        streamed = sse(head, rest, actor.request_id)
        _served(streamed, route["version"], route["variant"])
        return streamed
    _served(response, route["version"], route["variant"])
    answer = await drain(head, rest) | {"version": route["version"], "variant": route["variant"]}
    return EndpointChatAnswer.model_validate(answer)
