from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from raylane.core.projects.service import project_service
from raylane.core.rbac import Permission
from raylane.schemas.common import Page
from raylane.schemas.projects import ProjectCreate, ProjectRead, ProjectUpdate
from raylane.serve.deps import ActorDep, PageDep, PlatformDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/projects", tags=["projects"], route_class=Route)


@router.get("", dependencies=[require(Permission.PROJECT_READ)])
async def list_projects(session: SessionDep, page: PageDep) -> Page[ProjectRead]:
    result = await project_service.page(session, limit=page.limit, cursor=page.cursor)
    return page_of(result, ProjectRead)  # type: ignore[no-any-return]


@router.post("", status_code=201, dependencies=[require(Permission.PROJECT_WRITE)])
async def create_project(data: ProjectCreate, session: SessionDep, actor: ActorDep) -> ProjectRead:
    return ProjectRead.model_validate(await project_service.create(session, actor=actor, data=data))


@router.get("/{project_id}", dependencies=[require(Permission.PROJECT_READ)])
async def get_project(project_id: uuid.UUID, session: SessionDep) -> ProjectRead:
    """Get one project."""
    return ProjectRead.model_validate(await project_service.get(session, project_id=project_id))


@router.patch("/{project_id}", dependencies=[require(Permission.PROJECT_WRITE)])
async def update_project(
    project_id: uuid.UUID, data: ProjectUpdate, session: SessionDep, actor: ActorDep
) -> ProjectRead:
    project = await project_service.update(session, actor=actor, project_id=project_id, data=data)
    return ProjectRead.model_validate(project)


@router.delete("/{project_id}", status_code=204, dependencies=[require(Permission.PROJECT_WRITE)])
async def delete_project(
    project_id: uuid.UUID, session: SessionDep, actor: ActorDep, platform: PlatformDep
) -> Response:
    await project_service.delete(session, actor=actor, project_id=project_id, store=platform.store)
    return Response(status_code=204)
