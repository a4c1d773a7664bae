"""All SQL for endpoints and copilot configurations."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select

from raylane.core.endpoints.models import CopilotConfig, CopilotConfigVersion, Endpoint
from raylane.core.registry.models import ModelVersion
from raylane.core.rollouts.models import ACTIVE, Rollout
from raylane.infra.db.repository import Repository


class CopilotConfigRepository(Repository[CopilotConfig]):
    model = CopilotConfig

    async def by_name(
        self, project_id: uuid.UUID, name: str, *, lock: bool = False
    ) -> CopilotConfig | None:
        """The project's configuration called ``name``; ``lock``: row-locked until the
        transaction ends, so one configuration's versions are numbered one at a time."""
        stmt = select(CopilotConfig).where(
            CopilotConfig.project_id == project_id, CopilotConfig.name == name
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self._session.scalars(stmt)).first()


class CopilotConfigVersionRepository(Repository[CopilotConfigVersion]):
    model = CopilotConfigVersion
    newest_first = True

    async def by_digest(self, config_id: uuid.UUID, digest: str) -> CopilotConfigVersion | None:
        stmt = select(CopilotConfigVersion).where(
            CopilotConfigVersion.config_id == config_id, CopilotConfigVersion.digest == digest
        )
        return (await self._session.scalars(stmt)).first()

    async def by_number(self, config_id: uuid.UUID, version: int) -> CopilotConfigVersion | None:
        stmt = select(CopilotConfigVersion).where(
            CopilotConfigVersion.config_id == config_id, CopilotConfigVersion.version == version
        )
        return (await self._session.scalars(stmt)).first()


class EndpointRepository(Repository[Endpoint]):
    model = Endpoint

    async def locked(self, endpoint_id: uuid.UUID) -> Endpoint | None:
        """The endpoint, row-locked until the transaction ends: split changes (manual, or the
        orchestrator's) go one at a time, each seeing the split the previous one left."""
        stmt = select(Endpoint).where(Endpoint.id == endpoint_id).with_for_update()
        return (await self._session.scalars(stmt)).first()

    async def has_active_rollout(self, endpoint_id: uuid.UUID) -> bool:
        stmt = select(
            exists().where(
                Rollout.endpoint_id == endpoint_id,
                Rollout.status.in_([str(s) for s in ACTIVE]),
            )
        )
        return bool(await self._session.scalar(stmt))

    async def model_version(self, version_id: uuid.UUID) -> ModelVersion | None:
        """A model version by id (what a model endpoint's refs point at)."""
        return await self._session.get(ModelVersion, version_id)

    async def config_version(self, version_id: uuid.UUID) -> CopilotConfigVersion | None:
        return await self._session.get(CopilotConfigVersion, version_id)
