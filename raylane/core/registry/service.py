"""Model registry use cases: registered models, versions made from a tracking run's artifact
(with lineage: version → tracking run → dataset version → collection), and aliases.

An alias moves atomically: the model's row is locked (moves of one model's aliases go one at a
time, so each sees the holder the previous one left), then one upsert on the unique
(model, alias) row points it at the new version; the audit event records the previous holder.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.datasets.repository import DatasetRepository, DatasetVersionRepository
from raylane.core.experiments.repository import ExperimentRunRepository
from raylane.core.experiments.service import experiment_service
from raylane.core.rbac import Actor
from raylane.core.registry.models import ModelVersion, RegisteredModel
from raylane.core.registry.repository import (
    ModelAliasRepository,
    ModelVersionRepository,
    RegisteredModelRepository,
)
from raylane.errors import InvalidInput, NotFound
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.schemas.registry import ALIAS as ALIAS_PATTERN

ALIAS = re.compile(ALIAS_PATTERN)
LATEST = "latest"  # resolves to the highest version; no alias may take the name


def check_alias(alias: str) -> str:
    """An alias a caller may set: lowercase letters, digits, ``_`` and ``-``, never all digits
    (so never a version number), at most 64 characters, not ``latest``.

    Raises:
        InvalidInput: any other name.
    """
    if len(alias) > 64 or not ALIAS.fullmatch(alias):
        raise InvalidInput(
            "an alias is lowercase letters, digits, '_' or '-', not all digits "
            "(at most 64 characters)"
        )
    if alias == LATEST:
        raise InvalidInput("'latest' always means the highest version; it cannot be set")
    return alias


class RegistryService:
    async def create_model(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        """Register a model name in the organization.

        Raises:
            Conflict: the organization has a model with this name.
        """
        model = RegisteredModel(
            organization_id=actor.organization_id,
            name=name,
            description=description,
            tags=dict(tags or {}),
            latest_version=0,
        )
        async with conflict_on_duplicate(session, f"model {name!r}"):
            await RegisteredModelRepository(session).add(model)
        await audit_service.log(session, actor, "model.create", target=model, after={"name": name})
        return model

    async def get_model(self, session: AsyncSession, *, name: str) -> RegisteredModel:
        """The organization's model called ``name``.

        Raises:
            NotFound: no such model in the caller's organization.
        """
        model = await RegisteredModelRepository(session).by_name(name)
        if model is None:
            raise NotFound("model", name)
        return model

    async def page_models(
        self, session: AsyncSession, *, limit: int, cursor: str | None
    ) -> Page[RegisteredModel]:
        return await RegisteredModelRepository(session).page(limit=limit, cursor=cursor)

    async def aliases(self, session: AsyncSession, *, model: RegisteredModel) -> dict[str, int]:
        """alias → version number of the model's aliases."""
        return dict(await ModelAliasRepository(session).of_model(model.id))

    async def update_model(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        name: str,
        fields: Mapping[str, Any],
    ) -> RegisteredModel:
        """Change a model's description or tags (``fields`` holds only what changes).

        Raises:
            NotFound: no such model in the caller's organization.
        """
        model = await self.get_model(session, name=name)
        before = {"description": model.description, "tags": model.tags}
        if "description" in fields:
            model.description = fields["description"]
        if fields.get("tags") is not None:
            model.tags = dict(fields["tags"])
        await RegisteredModelRepository(session).flush()
        await audit_service.log(
            session,
            actor,
            "model.update",
            target=model,
            before=before,
            after={"description": model.description, "tags": model.tags},
        )
        return model

    async def create_version(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        name: str,
        experiment_run_id: uuid.UUID,
        artifact_path: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Make the next version of a model from a tracking run's artifact.

        The version records the run, the artifact (its stored object, copied by key) and the
        dataset version the run trained on.

        Raises:
            NotFound: the model, the run or the artifact is not the caller's.
        """
        model = await RegisteredModelRepository(session).by_name(name, lock=True)
        if model is None:
            raise NotFound("model", name)
        run = await experiment_service.get_run(session, experiment_run_id=experiment_run_id)
        artifact = await experiment_service.artifact_by_path(
            session, experiment_run_id=run.id, path=artifact_path
        )
        model.latest_version += 1
        version = ModelVersion(
            organization_id=model.organization_id,
            registered_model_id=model.id,
            version=model.latest_version,
            description=description,
            tags=dict(tags or {}),
            signature=dict(signature or {}),
            experiment_run_id=run.id,
            artifact_id=artifact.id,
            artifact_path=artifact.path,
            artifact_key=artifact.object_key,
            dataset_version_id=run.dataset_version_id,
            created_by=actor.user_id if actor else None,
        )
        await ModelVersionRepository(session).add(version)
        await audit_service.log(
            session,
            actor,
            "model.version.create",
            target=version,
            after={
                "model": name,
                "version": version.version,
                "experiment_run_id": str(run.id),
                "artifact": artifact.path,
            },
            organization_id=None if actor else model.organization_id,
        )
        return version

    async def versions(
        self, session: AsyncSession, *, name: str, limit: int, cursor: str | None
    ) -> Page[ModelVersion]:
        """The model's versions, newest first.

        Raises:
            NotFound: no such model in the caller's organization.
        """
        model = await self.get_model(session, name=name)
        return await ModelVersionRepository(session).page(
            {"registered_model_id": model.id}, limit=limit, cursor=cursor
        )

    async def resolve(
        self, session: AsyncSession, name: str, version_or_alias: str | int
    ) -> ModelVersion:
        """The version a caller means: a number (``3``), an alias (``production``) or
        ``latest``. What serving calls to find the artifact (``artifact_key``), the
        ``signature`` and the version's ``id``.

        Raises:
            NotFound: no such model, version or alias in the caller's organization.
        """
        model = await self.get_model(session, name=name)
        ref = str(version_or_alias)
        number: int | None = None
        if ref.isdigit() and len(ref) <= 9:
            number = int(ref)
        elif ref == LATEST:
            number = model.latest_version
        if number is not None:
            found = await ModelVersionRepository(session).by_number(model.id, number)
        else:
            alias = await ModelAliasRepository(session).find(model.id, ref)
            found = (
                None
                if alias is None
                else await ModelVersionRepository(session).get(alias.model_version_id)
            )
        if found is None:
            raise NotFound("model version", f"{name}/{ref}")
        return found

    async def lineage(self, session: AsyncSession, *, version: ModelVersion) -> dict[str, Any]:
        """Where the version came from: tracking run → experiment and platform run; dataset
        version → dataset → collection. Links since deleted are left out."""
        out: dict[str, Any] = {
            "experiment_run_id": version.experiment_run_id,
            "dataset_version_id": version.dataset_version_id,
        }
        if version.experiment_run_id is not None:
            run = await ExperimentRunRepository(session).get(version.experiment_run_id)
            if run is not None:
                out |= {"experiment_id": run.experiment_id, "run_id": run.run_id}
        if version.dataset_version_id is not None:
            data = await DatasetVersionRepository(session).get(version.dataset_version_id)
            if data is not None:
                dataset = await DatasetRepository(session).get(data.dataset_id)
                out |= {"dataset_id": data.dataset_id, "dataset_version": data.version}
                out["collection_id"] = dataset.collection_id if dataset else None
        return out

    async def version_aliases(self, session: AsyncSession, *, version: ModelVersion) -> list[str]:
        return await ModelAliasRepository(session).of_version(version.id)

    async def set_alias(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        name: str,
        alias: str,
        version: int,
        organization_id: uuid.UUID | None = None,
    ) -> tuple[ModelVersion, int | None]:
        """Point ``alias`` at ``version`` of the model, atomically. ``actor=None``: the system
        (a rollout's promotion), audited in ``organization_id``'s chain.

        Returns:
            The version now holding the alias, and the version number that held it before
            (None when the alias is new).

        Raises:
            NotFound: no such model or version in the caller's organization.
            InvalidInput: the alias is not a valid name.
        """
        model = await RegisteredModelRepository(session).by_name(name, lock=True)
        if model is None:
            raise NotFound("model", name)
        check_alias(alias)
        target = await ModelVersionRepository(session).by_number(model.id, version)
        if target is None:
            raise NotFound("model version", f"{name}/{version}")
        aliases = ModelAliasRepository(session)
        held = await aliases.find(model.id, alias)
        previous = None
        if held is not None:
            old = await ModelVersionRepository(session).get(held.model_version_id)
            previous = old.version if old is not None else None
        await aliases.point(
            organization_id=model.organization_id,
            model_id=model.id,
            alias=alias,
            version_id=target.id,
        )
        await audit_service.log(
            session,
            actor,
            "model.alias.set",
            target=model,
            before={"alias": alias, "version": previous},
            after={"alias": alias, "version": version},
            organization_id=organization_id or model.organization_id,
        )
        return target, previous

    async def delete_alias(
        self, session: AsyncSession, *, actor: Actor, name: str, alias: str
    ) -> None:
        """Remove an alias from the model.

        Raises:
            NotFound: no such model or alias in the caller's organization.
        """
        model = await RegisteredModelRepository(session).by_name(name, lock=True)
        if model is None:
            raise NotFound("model", name)
        aliases = ModelAliasRepository(session)
        held = await aliases.find(model.id, alias)
        if held is None:
            raise NotFound("alias", alias)
        old = await ModelVersionRepository(session).get(held.model_version_id)
        await aliases.remove(model.id, alias)
        await audit_service.log(
            session,
            actor,
            "model.alias.delete",
            target=model,
            before={"alias": alias, "version": old.version if old else None},
        )


registry_service = RegistryService()
