"""The model registry: registered models, versions from tracking runs' artifacts, aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Final

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    UNSET,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    Unset,
    body,
    segment,
)
from raylane.schemas.common import Page
from raylane.schemas.registry import (
    AliasRead,
    AliasSet,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    ModelVersionCreate,
    ModelVersionRead,
)

MODELS: Final = Collection("/api/v1/models", ModelRead)


class _Models:
    """Request shapes of the registry routes; both resource groups send them."""

    @staticmethod
    def create(
        name: str, description: str | None, tags: Mapping[str, str] | None
    ) -> Call[ModelRead]:
        data = body(ModelCreate, name=name, description=description, tags=dict(tags or {}))
        return MODELS.create(data, ModelRead)

    @staticmethod
    def update(
        name: str, description: str | Unset | None, tags: Mapping[str, str] | Unset
    ) -> Call[ModelRead]:
        tag_map = tags if isinstance(tags, Unset) else dict(tags)
        return MODELS.update(name, body(ModelUpdate, description=description, tags=tag_map))

    @staticmethod
    def versions(name: str) -> Collection[ModelVersionRead]:
        return Collection(f"{MODELS.item(name)}/versions", ModelVersionRead)

    @staticmethod
    def create_version(name: str, fields: Mapping[str, Any]) -> Call[ModelVersionRead]:
        data = body(ModelVersionCreate, **fields)
        return _Models.versions(name).create(data, ModelVersionRead)

    @staticmethod
    def alias_path(name: str, alias: str) -> str:
        return f"{MODELS.item(name)}/aliases/{segment(alias)}"

    @staticmethod
    def set_alias(name: str, alias: str, version: int) -> Call[AliasRead]:
        data = body(AliasSet, version=version)
        return Call("PUT", _Models.alias_path(name, alias), AliasRead.model_validate, json=data)


def _none(_: Any) -> None:
    return None


def _version_fields(
    experiment_run_id: Ident,
    artifact_path: str,
    description: str | None,
    tags: Mapping[str, str] | None,
    signature: Mapping[str, Any] | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "experiment_run_id": str(experiment_run_id),
        "artifact_path": artifact_path,
        "description": description,
        "tags": dict(tags or {}),
    }
    if signature is not None:
        fields["signature"] = dict(signature)
    return fields


class Models(SyncResource):
    """Registered models of the organization."""

    def create(
        self, *, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> ModelRead:
        """Register a model name (unique in the organization).

        Raises:
            Conflict: the organization has a model with this name.
        """
        return self._run(_Models.create(name, description, tags))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[ModelRead]:
        """One page of registered models."""
        return self._run(MODELS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[ModelRead]:
        """Every registered model."""
        return self._pages(lambda cursor: MODELS.list(limit=page_size, cursor=cursor))

    def get(self, name: str) -> ModelRead:
        """One model by name, with its aliases.

        Raises:
            NotFound: no such model in the caller's organization.
        """
        return self._run(MODELS.get(name))

    def update(
        self,
        name: str,
        *,
        description: str | Unset | None = UNSET,
        tags: Mapping[str, str] | Unset = UNSET,
    ) -> ModelRead:
        """Change the description or replace the tags; what is not given stays."""
        return self._run(_Models.update(name, description, tags))

    def create_version(
        self,
        name: str,
        *,
        experiment_run_id: Ident,
        artifact_path: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
    ) -> ModelVersionRead:
        """The model's next version from a tracking run's artifact; lineage is recorded.

        Raises:
            NotFound: the model, the run or the artifact is not the caller's.
        """
        fields = _version_fields(experiment_run_id, artifact_path, description, tags, signature)
        return self._run(_Models.create_version(name, fields))

    def versions(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ModelVersionRead]:
        """One page of the model's versions, newest first."""
        return self._run(_Models.versions(name).list(limit=limit, cursor=cursor))

    def get_version(self, name: str, version: int | str) -> ModelVersionRead:
        """A version by number, alias or ``latest``, with its lineage.

        Raises:
            NotFound: no such model, version or alias.
        """
        return self._run(_Models.versions(name).get(str(version)))

    def set_alias(self, name: str, alias: str, *, version: int) -> AliasRead:
        """Point an alias at a version, atomically; returns the previous holder too.

        Raises:
            NotFound: no such model or version.
            ValidationError: not a valid alias name.
        """
        return self._run(_Models.set_alias(name, alias, version))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias.

        Raises:
            NotFound: no such model or alias.
        """
        self._run(Call("DELETE", _Models.alias_path(name, alias), _none))


class AsyncModels(AsyncResource, twin=Models):
    async def create(
        self, *, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> ModelRead:
        return await self._run(_Models.create(name, description, tags))

    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[ModelRead]:
        return await self._run(MODELS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[ModelRead]:
        return self._pages(lambda cursor: MODELS.list(limit=page_size, cursor=cursor))

    async def get(self, name: str) -> ModelRead:
        return await self._run(MODELS.get(name))

    async def update(
        self,
        name: str,
        *,
        description: str | Unset | None = UNSET,
        tags: Mapping[str, str] | Unset = UNSET,
    ) -> ModelRead:
        return await self._run(_Models.update(name, description, tags))

    async def create_version(
        self,
        name: str,
        *,
        experiment_run_id: Ident,
        artifact_path: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
    ) -> ModelVersionRead:
        fields = _version_fields(experiment_run_id, artifact_path, description, tags, signature)
        return await self._run(_Models.create_version(name, fields))

    async def versions(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ModelVersionRead]:
        return await self._run(_Models.versions(name).list(limit=limit, cursor=cursor))

    async def get_version(self, name: str, version: int | str) -> ModelVersionRead:
        return await self._run(_Models.versions(name).get(str(version)))

    async def set_alias(self, name: str, alias: str, *, version: int) -> AliasRead:
        return await self._run(_Models.set_alias(name, alias, version))

    async def delete_alias(self, name: str, alias: str) -> None:
        await self._run(Call("DELETE", _Models.alias_path(name, alias), _none))
