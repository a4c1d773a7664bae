"""Endpoint use cases: create, read, delete, the split (manual, or the rollout orchestrator's),
promotion, and the split as the router loads it.

Every change of the split bumps ``generation`` and writes an audit event with the figures that
caused it (``reason``); the orchestrator acts with ``actor=None`` and is audited as the system.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.endpoints.configs import copilot_config_service
from raylane.core.endpoints.models import Endpoint, EndpointKind
from raylane.core.endpoints.repository import EndpointRepository
from raylane.core.endpoints.routing import Split, Version
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.core.registry.service import registry_service
from raylane.errors import Conflict, InvalidInput, NotFound
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.schemas.endpoints import EndpointCreate, SplitUpdate

PRODUCTION = "production"  # the alias a promoted model version takes


def _split_of(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "stable": endpoint.stable_label,
        "canary": endpoint.canary_label,
        "weight": endpoint.canary_weight,
        "generation": endpoint.generation,
    }


class EndpointService:
    async def create(
        self, session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, data: EndpointCreate
    ) -> Endpoint:
        """Create an endpoint serving ``data.subject``, its stable version resolved and pinned.

        Raises:
            NotFound: the project, model, configuration or version is not the caller's.
            InvalidInput: an alias for a copilot endpoint (configurations have numbers only).
            Conflict: the project has an endpoint with this name.
        """
        await project_service.get(session, project_id=project_id)
        endpoint = Endpoint(
            organization_id=actor.organization_id,
            project_id=project_id,
            name=data.name,
            kind=data.kind,
            subject=data.subject,
            canary_weight=0,
            sticky_header=data.sticky_header,
            generation=0,
        )
        ref, label = await self._resolve(session, endpoint, data.stable)
        endpoint.stable_ref, endpoint.stable_label = ref, label
        async with conflict_on_duplicate(session, f"endpoint {data.name!r}"):
            await EndpointRepository(session).add(endpoint)
        await audit_service.log(
            session,
            actor,
            "endpoint.create",
            target=endpoint,
            after={"name": data.name, "kind": data.kind, "subject": data.subject, "stable": label},
        )
        return endpoint

    async def get(self, session: AsyncSession, *, endpoint_id: uuid.UUID) -> Endpoint:
        """Raises: NotFound (missing, or another organization's)."""
        found = await EndpointRepository(session).get(endpoint_id)
        if found is None:
            raise NotFound("endpoint", endpoint_id)
        return found

    async def page(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Endpoint]:
        """The project's endpoints, oldest first. Raises: NotFound (the project)."""
        await project_service.get(session, project_id=project_id)
        return await EndpointRepository(session).page(
            {"project_id": project_id}, limit=limit, cursor=cursor
        )

    async def delete(self, session: AsyncSession, *, actor: Actor, endpoint_id: uuid.UUID) -> None:
        """Delete an endpoint (its finished rollouts with it).

        Raises:
            NotFound: not the caller's.
            Conflict: a rollout is active on it (abort it first).
        """
        repo = EndpointRepository(session)
        endpoint = await repo.locked(endpoint_id)
        if endpoint is None:
            raise NotFound("endpoint", endpoint_id)
        if await repo.has_active_rollout(endpoint.id):
            raise Conflict("a rollout is active on this endpoint: abort it first")
        await audit_service.log(
            session,
            actor,
            "endpoint.delete",
            target=endpoint,
            before={"name": endpoint.name} | _split_of(endpoint),
        )
        await repo.delete(endpoint)

    async def resolve_version(
        self, session: AsyncSession, *, endpoint: Endpoint, version: int
    ) -> tuple[uuid.UUID, str]:
        """The ref and label of version ``version`` of the endpoint's subject.

        Raises:
            NotFound: the subject has no such version (or is gone).
        """
        return await self._resolve(session, endpoint, str(version))

    async def _resolve(
        self, session: AsyncSession, endpoint: Endpoint, ref: str
    ) -> tuple[uuid.UUID, str]:
        if endpoint.kind == EndpointKind.MODEL:
            found = await registry_service.resolve(session, endpoint.subject, ref)
            return found.id, str(found.version)
        config = await copilot_config_service.by_name(
            session, project_id=endpoint.project_id, name=endpoint.subject
        )
        if ref == "latest":
            number = config.latest_version
        elif ref.isdigit() and len(ref) <= 9:
            number = int(ref)
        else:
            raise InvalidInput("a copilot configuration version is a number (or 'latest')")
        version = await copilot_config_service.version(session, config=config, number=number)
        return version.id, str(version.version)

    async def split(
        self, session: AsyncSession, *, actor: Actor, endpoint_id: uuid.UUID, data: SplitUpdate
    ) -> Endpoint:
        """A manual split: ``data.weight`` percent to version ``data.canary``.

        Raises:
            NotFound: the endpoint or the canary version is not the caller's.
            Conflict: a rollout is active on the endpoint (it owns the split).
            InvalidInput: a weight without a canary, or the stable version as canary.
        """
        repo = EndpointRepository(session)
        endpoint = await repo.locked(endpoint_id)
        if endpoint is None:
            raise NotFound("endpoint", endpoint_id)
        if await repo.has_active_rollout(endpoint.id):
            raise Conflict("a rollout is active on this endpoint: pause or abort it first")
        ref: uuid.UUID | None = None
        label: str | None = None
        if data.canary is not None:
            ref, label = await self.resolve_version(session, endpoint=endpoint, version=data.canary)
        return await self.set_split(
            session,
            actor=actor,
            endpoint=endpoint,
            canary_ref=ref,
            canary_label=label,
            weight=data.weight,
            reason={"by": "manual"},
        )

    async def set_split(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        endpoint: Endpoint,
        canary_ref: uuid.UUID | None,
        canary_label: str | None,
        weight: int,
        reason: dict[str, Any],
    ) -> Endpoint:
        """Send ``weight`` percent of the endpoint's requests to the canary (``None``: no
        canary, weight 0). Audited with ``reason``; ``actor=None`` is the orchestrator.

        Raises:
            InvalidInput: a weight outside 0-100, a weight without a canary, or the stable
                version as canary.
        """
        if not 0 <= weight <= 100:
            raise InvalidInput("the canary weight is a percentage (0-100)")
        if canary_ref is None and weight:
            raise InvalidInput("a canary weight needs a canary version")
        if canary_ref is not None and canary_ref == endpoint.stable_ref:
            raise InvalidInput("the canary is the stable version")
        before = _split_of(endpoint)
        endpoint.canary_ref = canary_ref
        endpoint.canary_label = canary_label if canary_ref is not None else None
        endpoint.canary_weight = weight
        endpoint.generation += 1
        await EndpointRepository(session).flush()
        await audit_service.log(
            session,
            actor,
            "endpoint.split",
            target=endpoint,
            before=before,
            after=_split_of(endpoint) | {"reason": reason},
            organization_id=endpoint.organization_id,
        )
        return endpoint

    async def promote(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        endpoint: Endpoint,
        reason: dict[str, Any],
    ) -> Endpoint:
        """The canary becomes stable (weight 0, no canary). For a model endpoint the model's
        ``production`` alias moves to it (audited by the registry with its previous holder).

        Raises:
            Conflict: the endpoint has no canary.
            NotFound: the canary's model version is gone.
        """
        if endpoint.canary_ref is None or endpoint.canary_label is None:
            raise Conflict("the endpoint has no canary to promote")
        before = _split_of(endpoint)
        moved: dict[str, Any] = {}
        if endpoint.kind == EndpointKind.MODEL:
            _, previous = await registry_service.set_alias(
                session,
                actor=actor,
                name=endpoint.subject,
                alias=PRODUCTION,
                version=int(endpoint.canary_label),
                organization_id=endpoint.organization_id,
            )
            moved = {"alias": PRODUCTION, "previous": previous, "version": endpoint.canary_label}
        endpoint.stable_ref, endpoint.stable_label = endpoint.canary_ref, endpoint.canary_label
        endpoint.canary_ref, endpoint.canary_label = None, None
        endpoint.canary_weight = 0
        endpoint.generation += 1
        await EndpointRepository(session).flush()
        await audit_service.log(
            session,
            actor,
            "endpoint.promote",
            target=endpoint,
            before=before,
            after=_split_of(endpoint) | {"reason": reason} | ({"alias": moved} if moved else {}),
            organization_id=endpoint.organization_id,
        )
        return endpoint

    async def load_split(self, session: AsyncSession, *, endpoint_id: uuid.UUID) -> Split:
        """The endpoint as the router needs it: both versions with what serving them takes.

        Raises:
            NotFound: the endpoint, or a version it names, is not the caller's.
        """
        endpoint = await self.get(session, endpoint_id=endpoint_id)
        stable = await self._version(session, endpoint, endpoint.stable_ref, endpoint.stable_label)
        canary = None
        if endpoint.canary_ref is not None and endpoint.canary_label is not None:
            canary = await self._version(
                session, endpoint, endpoint.canary_ref, endpoint.canary_label
            )
        return Split(
            endpoint_id=endpoint.id,
            organization_id=endpoint.organization_id,
            project_id=endpoint.project_id,
            kind=endpoint.kind,
            subject=endpoint.subject,
            stable=stable,
            canary=canary,
            weight=endpoint.canary_weight if canary is not None else 0,
            sticky_header=endpoint.sticky_header,
            generation=endpoint.generation,
        )

    async def _version(
        self, session: AsyncSession, endpoint: Endpoint, ref: uuid.UUID, label: str
    ) -> Version:
        repo = EndpointRepository(session)
        if endpoint.kind == EndpointKind.MODEL:
            model = await repo.model_version(ref)
            if model is None:
                raise NotFound("model version", f"{endpoint.subject}/{label}")
            return Version(ref, label, {"artifact_key": model.artifact_key})
        config = await repo.config_version(ref)
        if config is None:
            raise NotFound("copilot configuration version", f"{endpoint.subject}/{label}")
        return Version(ref, label, dict(config.spec))


endpoint_service = EndpointService()
