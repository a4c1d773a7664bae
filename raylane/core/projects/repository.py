"""All SQL for projects."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.projects.models import Project
from raylane.infra.db.paging import Page, keyset_page


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, project_id: uuid.UUID) -> Project | None:
        return await self._session.get(Project, project_id)  # row-level security scopes it

    async def page(self, *, limit: int, cursor: str | None) -> Page[Project]:
        return await keyset_page(
            self._session, select(Project), Project.id, limit=limit, cursor=cursor
        )
