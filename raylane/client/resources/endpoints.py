"""Endpoints (a stable and a canary version behind one URL) and copilot configurations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

from raylane.client._http import GENERATION_TIMEOUT
from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
    present,
    segment,
)
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
)

Texts = list[str]  # (``list`` is a method name in the classes below)


def _configs(project_id: Ident) -> Collection[CopilotConfigRead]:
    return Collection(f"/api/v1/projects/{segment(project_id)}/copilot-configs", CopilotConfigRead)


def _versions(config_id: Ident) -> Collection[CopilotConfigVersionRead]:
    return Collection(
        f"/api/v1/copilot-configs/{segment(config_id)}/versions", CopilotConfigVersionRead
    )


def _endpoints(project_id: Ident) -> Collection[EndpointRead]:
    return Collection(f"/api/v1/projects/{segment(project_id)}/endpoints", EndpointRead)


_ENDPOINT = Collection("/api/v1/endpoints", EndpointRead)


class _Endpoints:
    """The request shapes both resource groups below send."""

    @staticmethod
    def add_config(project_id: Ident, name: str, spec: dict[str, Any]) -> Call[Any]:
        data = body(CopilotConfigCreate, name=name, spec=spec)
        return _configs(project_id).create(data, CopilotConfigVersionRead)

    @staticmethod
    def config_version(config_id: Ident, version: int) -> Call[CopilotConfigVersionRead]:
        return Call(
            "GET",
            f"/api/v1/copilot-configs/{segment(config_id)}/versions/{int(version)}",
            CopilotConfigVersionRead.model_validate,
        )

    @staticmethod
    def create(project_id: Ident, fields: dict[str, Any]) -> Call[EndpointRead]:
        return _endpoints(project_id).create(
            body(EndpointCreate, **present(**fields)), EndpointRead
        )

    @staticmethod
    def split(endpoint_id: Ident, canary: int | None, weight: int) -> Call[EndpointRead]:
        data = body(SplitUpdate, canary=canary, weight=weight)
        return Call(
            "PUT",
            f"/api/v1/endpoints/{segment(endpoint_id)}/split",
            EndpointRead.model_validate,
            json=data,
        )

    @staticmethod
    def metrics(
        endpoint_id: Ident, since: datetime | None, until: datetime | None
    ) -> Call[EndpointMetrics]:
        params = {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        }
        return Call(
            "GET",
            f"/api/v1/endpoints/{segment(endpoint_id)}/metrics",
            EndpointMetrics.model_validate,
            params={k: v for k, v in params.items() if v is not None},
        )

    @staticmethod
    def predict(
        endpoint_id: Ident, inputs: list[str], key: str | None
    ) -> Call[EndpointPredictResponse]:
        data = body(EndpointPredict, **present(inputs=inputs, key=key))
        return Call(
            "POST",
            f"/api/v1/endpoints/{segment(endpoint_id)}/predict",
            EndpointPredictResponse.model_validate,
            json=data,
        )

    @staticmethod
    def chat(endpoint_id: Ident, question: str, fields: dict[str, Any]) -> Call[EndpointChatAnswer]:
        data = body(
            EndpointChat, messages=[{"role": "user", "content": question}], **present(**fields)
        )
        return Call(
            "POST",
            f"/api/v1/endpoints/{segment(endpoint_id)}/chat",
            EndpointChatAnswer.model_validate,
            json=data,
            timeout=GENERATION_TIMEOUT,
        )


def _endpoint_fields(
    name: str, kind: str, subject: str, stable: str | int, sticky_header: str | None
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "subject": subject,
        "stable": str(stable),
        "sticky_header": sticky_header,
    }


class Endpoints(SyncResource):
    """Endpoints of a project, their split and per-version metrics, and copilot
    configurations."""

    def add_config(
        self, project_id: Ident, name: str, spec: dict[str, Any]
    ) -> CopilotConfigVersionRead:
        """Store ``spec`` (system_prompt, answer_mode, top_k, collection_ids, max_tokens,
        temperature, guardrail_policy) as the named copilot configuration's next version; the
        same spec again answers the existing version.

        Raises:
            ValidationError: the spec is invalid. NotFound: no such project or collection.
        """
        result: CopilotConfigVersionRead = self._run(_Endpoints.add_config(project_id, name, spec))
        return result

    def configs(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[CopilotConfigRead]:
        """Every copilot configuration of the project."""
        configs = _configs(project_id)
        return self._pages(lambda cursor: configs.list(limit=page_size, cursor=cursor))

    def config_versions(
        self, config_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[CopilotConfigVersionRead]:
        """Every version of a configuration, newest first."""
        versions = _versions(config_id)
        return self._pages(lambda cursor: versions.list(limit=page_size, cursor=cursor))

    def config_version(self, config_id: Ident, version: int) -> CopilotConfigVersionRead:
        """One configuration version with its spec."""
        return self._run(_Endpoints.config_version(config_id, version))

    def create(
        self,
        project_id: Ident,
        *,
        name: str,
        kind: str,
        subject: str,
        stable: str | int,
        sticky_header: str | None = None,
    ) -> EndpointRead:
        """An endpoint serving a registered model (``kind="model"``, ``subject`` its name) or
        a copilot configuration (``kind="copilot"``); ``stable`` is a version number or, for
        models, an alias, resolved and pinned now.

        Raises:
            NotFound: no such project, model, configuration or version. Conflict: the name
                is taken in the project.
        """
        fields = _endpoint_fields(name, kind, subject, stable, sticky_header)
        return self._run(_Endpoints.create(project_id, fields))

    def list(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[EndpointRead]:
        """Every endpoint of the project."""
        endpoints = _endpoints(project_id)
        return self._pages(lambda cursor: endpoints.list(limit=page_size, cursor=cursor))

    def get(self, endpoint_id: Ident) -> EndpointRead:
        """One endpoint with its split."""
        return self._run(_ENDPOINT.get(endpoint_id))

    def delete(self, endpoint_id: Ident) -> None:
        """Delete an endpoint (Conflict while a rollout is active on it)."""
        self._run(_ENDPOINT.delete(endpoint_id))

    def split(self, endpoint_id: Ident, *, canary: int | None, weight: int) -> EndpointRead:
        """Send ``weight`` percent of requests to version ``canary`` (None clears it).

        Raises:
            Conflict: a rollout is active on the endpoint. ValidationError: a bad weight.
        """
        return self._run(_Endpoints.split(endpoint_id, canary, weight))

    def metrics(
        self, endpoint_id: Ident, *, since: datetime | None = None, until: datetime | None = None
    ) -> EndpointMetrics:
        """Requests, errors, guardrail blocks, tokens and p95 latency per version (default:
        the last 5 minutes)."""
        return self._run(_Endpoints.metrics(endpoint_id, since, until))

    def predict(
        self, endpoint_id: Ident, inputs: Texts, *, key: str | None = None
    ) -> EndpointPredictResponse:
        """Predictions from the version the split picks (``key`` keeps a caller on one);
        the answer names the ``version`` and ``variant``."""
        return self._run(_Endpoints.predict(endpoint_id, inputs, key))

    def chat(
        self, endpoint_id: Ident, question: str, *, key: str | None = None, **fields: Any
    ) -> EndpointChatAnswer:
        """A copilot endpoint's answer (``fields``: the chat body's other fields, e.g.
        ``max_tokens``), naming the configuration ``version`` and ``variant`` that gave it."""
        return self._run(_Endpoints.chat(endpoint_id, question, {"key": key, **fields}))


class AsyncEndpoints(AsyncResource, twin=Endpoints):
    """Async form of :class:`Endpoints`."""

    async def add_config(
        self, project_id: Ident, name: str, spec: dict[str, Any]
    ) -> CopilotConfigVersionRead:
        result: CopilotConfigVersionRead = await self._run(
            _Endpoints.add_config(project_id, name, spec)
        )
        return result

    def configs(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[CopilotConfigRead]:
        configs = _configs(project_id)
        return self._pages(lambda cursor: configs.list(limit=page_size, cursor=cursor))

    def config_versions(
        self, config_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[CopilotConfigVersionRead]:
        versions = _versions(config_id)
        return self._pages(lambda cursor: versions.list(limit=page_size, cursor=cursor))

    async def config_version(self, config_id: Ident, version: int) -> CopilotConfigVersionRead:
        return await self._run(_Endpoints.config_version(config_id, version))

    async def create(
        self,
        project_id: Ident,
        *,
        name: str,
        kind: str,
        subject: str,
        stable: str | int,
        sticky_header: str | None = None,
    ) -> EndpointRead:
        fields = _endpoint_fields(name, kind, subject, stable, sticky_header)
        return await self._run(_Endpoints.create(project_id, fields))

    def list(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[EndpointRead]:
        endpoints = _endpoints(project_id)
        return self._pages(lambda cursor: endpoints.list(limit=page_size, cursor=cursor))

    async def get(self, endpoint_id: Ident) -> EndpointRead:
        return await self._run(_ENDPOINT.get(endpoint_id))

    async def delete(self, endpoint_id: Ident) -> None:
        await self._run(_ENDPOINT.delete(endpoint_id))

    async def split(self, endpoint_id: Ident, *, canary: int | None, weight: int) -> EndpointRead:
        return await self._run(_Endpoints.split(endpoint_id, canary, weight))

    async def metrics(
        self, endpoint_id: Ident, *, since: datetime | None = None, until: datetime | None = None
    ) -> EndpointMetrics:
        return await self._run(_Endpoints.metrics(endpoint_id, since, until))

    async def predict(
        self, endpoint_id: Ident, inputs: Texts, *, key: str | None = None
    ) -> EndpointPredictResponse:
        return await self._run(_Endpoints.predict(endpoint_id, inputs, key))

    async def chat(
        self, endpoint_id: Ident, question: str, *, key: str | None = None, **fields: Any
    ) -> EndpointChatAnswer:
        return await self._run(_Endpoints.chat(endpoint_id, question, {"key": key, **fields}))
