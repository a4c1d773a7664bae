"""All SQL for registered models, their versions and aliases."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from raylane.core.registry.models import ModelAlias, ModelVersion, RegisteredModel
from raylane.infra.db.repository import Repository
from raylane.infra.ids import uuid7


class RegisteredModelRepository(Repository[RegisteredModel]):
    model = RegisteredModel

    async def by_name(self, name: str, *, lock: bool = False) -> RegisteredModel | None:
        """The organization's model called ``name``; ``lock`` row-locks it until the
        transaction ends (version numbers and alias moves of one model go one at a time)."""
        stmt = select(RegisteredModel).where(RegisteredModel.name == name)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self._session.scalars(stmt)).first()


class ModelVersionRepository(Repository[ModelVersion]):
    model = ModelVersion
    newest_first = True

    async def by_number(self, model_id: uuid.UUID, version: int) -> ModelVersion | None:
        stmt = select(ModelVersion).where(
            ModelVersion.registered_model_id == model_id, ModelVersion.version == version
        )
        return (await self._session.scalars(stmt)).first()

    async def referencing(self, object_keys: list[str]) -> dict[str, str]:
        """Which of ``object_keys`` a model version of the tenant serves: key -> the model's
        name (the first by name, for the message)."""
        if not object_keys:
            return {}
        stmt = (
            select(ModelVersion.artifact_key, RegisteredModel.name)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
            .where(ModelVersion.artifact_key.in_(object_keys))
            .order_by(RegisteredModel.name)
        )
        found: dict[str, str] = {}
        for key, name in (await self._session.execute(stmt)).tuples():
            found.setdefault(key, name)
        return found


class ModelAliasRepository(Repository[ModelAlias]):
    model = ModelAlias

    async def find(self, model_id: uuid.UUID, alias: str) -> ModelAlias | None:
        stmt = select(ModelAlias).where(
            ModelAlias.registered_model_id == model_id, ModelAlias.alias == alias
        )
        return (await self._session.scalars(stmt)).first()

    async def of_model(self, model_id: uuid.UUID) -> list[tuple[str, int]]:
        """(alias, version number) of every alias of the model, by alias."""
        stmt = (
            select(ModelAlias.alias, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == ModelAlias.model_version_id)
            .where(ModelAlias.registered_model_id == model_id)
            .order_by(ModelAlias.alias)
        )
        return [(a, v) for a, v in (await self._session.execute(stmt)).all()]

    async def of_version(self, model_version_id: uuid.UUID) -> list[str]:
        stmt = (
            select(ModelAlias.alias)
            .where(ModelAlias.model_version_id == model_version_id)
            .order_by(ModelAlias.alias)
        )
        return list(await self._session.scalars(stmt))

    async def point(
        self, *, organization_id: uuid.UUID, model_id: uuid.UUID, alias: str, version_id: uuid.UUID
    ) -> None:
        """Point ``alias`` at a version in one statement: the row is inserted, or the one
        holder the unique (model, alias) constraint allows is updated in place."""
        stmt = insert(ModelAlias).values(
            id=uuid7(),
            organization_id=organization_id,
            registered_model_id=model_id,
            alias=alias,
            model_version_id=version_id,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ModelAlias.registered_model_id, ModelAlias.alias],
            set_={"model_version_id": stmt.excluded.model_version_id, "updated_at": func.now()},
        )
        await self._session.execute(stmt)

    async def remove(self, model_id: uuid.UUID, alias: str) -> None:
        found = await self.find(model_id, alias)
        if found is not None:
            await self.delete(found)
