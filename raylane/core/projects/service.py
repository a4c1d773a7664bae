"""Project use cases."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.collections import objects
from raylane.core.collections.models import DeletionReason
from raylane.core.collections.repository import DocumentRepository
from raylane.core.datasets.repository import DatasetVersionRepository
from raylane.core.experiments.repository import ArtifactRepository
from raylane.core.projects.models import Project
from raylane.core.projects.repository import ProjectRepository
from raylane.core.rbac import Actor
from raylane.core.registry.repository import ModelVersionRepository
from raylane.errors import NotFound
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.infra.storage import ObjectStore
from raylane.schemas.projects import ProjectCreate, ProjectUpdate


def _summary(project: Project) -> dict[str, str | None]:
    return {"name": project.name, "description": project.description}


class ProjectService:
    async def get(self, session: AsyncSession, *, project_id: uuid.UUID) -> Project:
        """One project of the caller's organization.

        Raises:
            NotFound: missing, or another organization's (the same answer for both).
        """
        project = await ProjectRepository(session).get(project_id)
        if project is None:
            raise NotFound("project", project_id)
        return project

    async def page(self, session: AsyncSession, *, limit: int, cursor: str | None) -> Page[Project]:
        return await ProjectRepository(session).page(limit=limit, cursor=cursor)

    async def create(self, session: AsyncSession, *, actor: Actor, data: ProjectCreate) -> Project:
        """Create a project.

        Raises:
            Conflict: a project with this name exists in the organization.
        """
        project = Project(organization_id=actor.organization_id, **data.model_dump())
        async with conflict_on_duplicate(session, f"project {data.name!r}"):
            await ProjectRepository(session).add(project)
        await audit_service.log(
            session, actor, "project.create", target=project, after=_summary(project)
        )
        return project

    async def update(
        self, session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, data: ProjectUpdate
    ) -> Project:
        project = await self.get(session, project_id=project_id)
        before = _summary(project)
        async with conflict_on_duplicate(session, f"project {data.name!r}"):
            for field, value in data.model_dump(exclude_unset=True).items():
                if field == "name" and value is None:
                    continue
                setattr(project, field, value)
        await audit_service.log(
            session, actor, "project.update", target=project, before=before, after=_summary(project)
        )
        return project

    async def delete(
        self, session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, store: ObjectStore
    ) -> None:
        """Delete the project with everything in it; the stored objects of its documents,
        dataset versions and experiment artifacts go once the transaction commits (through the
        deletion outbox, like a collection's).

        An artifact a registered model version serves keeps its object: models belong to the
        organization, not the project, and a version stays loadable by its key after its
        tracking run is gone (the audit event names those models).

        Raises:
            NotFound: the project is not the caller's.
        """
        project = await self.get(session, project_id=project_id)
        keys = await DocumentRepository(session).object_keys_in_project(project_id)
        keys += await DatasetVersionRepository(session).object_keys_in_project(project_id)
        artifact_keys = await ArtifactRepository(session).object_keys_in_project(project_id)
        await ProjectRepository(session).delete(project)
        # Read after the delete: a model version registered from one of these artifacts by a
        # transaction that committed meanwhile is seen (the cascade waited for its lock).
        served = await ModelVersionRepository(session).referencing(artifact_keys)
        await objects.delete_after_commit(
            session,
            store=store,
            organization_id=project.organization_id,
            object_keys=keys + [k for k in artifact_keys if k not in served],
            reason=DeletionReason.PROJECT_DELETED,
        )
        # What outlives the project, for whoever reads the chain: the models it served.
        kept = {"artifacts_kept_for_models": sorted(set(served.values()))} if served else None
        await audit_service.log(
            session, actor, "project.delete", target=project, before=_summary(project), after=kept
        )


project_service = ProjectService()
