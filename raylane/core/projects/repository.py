"""All SQL for projects."""

from __future__ import annotations

from raylane.core.projects.models import Project
from raylane.infra.db.repository import Repository


class ProjectRepository(Repository[Project]):
    model = Project  # get and page come scoped to the tenant by row-level security
