"""Projects of the caller's organization: request shapes, and the sync and async groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Final

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
)
from raylane.schemas.common import Page
from raylane.schemas.projects import ProjectCreate, ProjectRead, ProjectUpdate

PROJECTS: Final = Collection("/api/v1/projects", ProjectRead)


class _Projects:
    """The request shapes of ``/projects`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def create(name: str, description: str | None) -> Call[ProjectRead]:
        """``POST /projects``."""
        return PROJECTS.create(body(ProjectCreate, name=name, description=description), ProjectRead)

    @staticmethod
    def update(
        project_id: Ident, name: str | Unset, description: str | Unset | None
    ) -> Call[ProjectRead]:
        """``PATCH /projects/{id}`` with only the fields given (``description=None`` clears it)."""
        return PROJECTS.update(project_id, body(ProjectUpdate, name=name, description=description))


class Projects(SyncResource):
    """Projects of the caller's organization."""

    def create(self, *, name: str, description: str | None = None) -> ProjectRead:
        """Create a project.

        Raises:
            Conflict: a project with this name exists.
            ValidationError: the name is empty or a field is too long.
        """
        return self._run(_Projects.create(name, description))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[ProjectRead]:
        """One page of projects; pass ``next_cursor`` on."""
        return self._run(PROJECTS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[ProjectRead]:
        """Every project, fetching pages of ``page_size`` as needed."""
        return self._pages(lambda cursor: PROJECTS.list(limit=page_size, cursor=cursor))

    def get(self, project_id: Ident) -> ProjectRead:
        """Get one project.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(PROJECTS.get(project_id))

    def update(
        self,
        project_id: Ident,
        *,
        name: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
    ) -> ProjectRead:
        """Change a project; fields left out stay as they are, ``description=None`` clears it.

        Raises:
            NotFound: it does not exist or belongs to another organization.
            Conflict: the new name is taken.
            ValidationError: a field is empty or too long.
        """
        return self._run(_Projects.update(project_id, name, description))

    def delete(self, project_id: Ident) -> None:
        """Delete a project.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        self._run(PROJECTS.delete(project_id))


class AsyncProjects(AsyncResource, twin=Projects):
    async def create(self, *, name: str, description: str | None = None) -> ProjectRead:
        return await self._run(_Projects.create(name, description))

    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ProjectRead]:
        return await self._run(PROJECTS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[ProjectRead]:
        return self._pages(lambda cursor: PROJECTS.list(limit=page_size, cursor=cursor))

    async def get(self, project_id: Ident) -> ProjectRead:
        return await self._run(PROJECTS.get(project_id))

    async def update(
        self,
        project_id: Ident,
        *,
        name: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
    ) -> ProjectRead:
        return await self._run(_Projects.update(project_id, name, description))

    async def delete(self, project_id: Ident) -> None:
        await self._run(PROJECTS.delete(project_id))
