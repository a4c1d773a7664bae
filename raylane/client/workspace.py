"""Blocking resource groups for an organization's work: projects, feature flags and audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from raylane.client._resources import (
    AUDIT_EVENTS,
    AUDIT_VERIFY,
    DEFAULT_PAGE_SIZE,
    FEATURE_FLAGS,
    PROJECTS,
    UNSET,
    Ident,
    SyncResource,
    Unset,
    body,
)
from raylane.schemas.audit import AuditEventRead, AuditVerifyRead
from raylane.schemas.common import Page
from raylane.schemas.flags import FeatureFlagRead, FeatureFlagUpsert
from raylane.schemas.projects import ProjectCreate, ProjectRead, ProjectUpdate


class Projects(SyncResource):
    """Projects of the caller's organization."""

    def create(self, *, name: str, description: str | None = None) -> ProjectRead:
        """Create a project.

        Raises:
            Conflict: a project with this name exists.
            ValidationError: the name is empty or a field is too long.
        """
        data = body(ProjectCreate, name=name, description=description)
        return self._run(PROJECTS.create(data, ProjectRead))

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
        data = body(ProjectUpdate, name=name, description=description)
        return self._run(PROJECTS.update(project_id, data))

    def delete(self, project_id: Ident) -> None:
        """Delete a project.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        self._run(PROJECTS.delete(project_id))


class FeatureFlags(SyncResource):
    """Feature flags of the caller's organization, addressed by key."""

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[FeatureFlagRead]:
        """One page of flags; pass ``next_cursor`` on."""
        return self._run(FEATURE_FLAGS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[FeatureFlagRead]:
        """Every flag, fetching pages of ``page_size`` as needed."""
        return self._pages(lambda cursor: FEATURE_FLAGS.list(limit=page_size, cursor=cursor))

    def get(self, key: str) -> FeatureFlagRead:
        """Get one flag.

        Raises:
            NotFound: no flag with this key.
        """
        return self._run(FEATURE_FLAGS.get(key))

    def set(
        self, key: str, *, enabled: bool, value: Any = None, description: str | None = None
    ) -> FeatureFlagRead:
        """Create or replace a flag.

        Args:
            key: Lowercase letters, digits, ``_``, ``.`` and ``-``.
            enabled: Whether the flag is on.
            value: Any JSON value the flag carries.
            description: What the flag is for.

        Raises:
            ValidationError: the key or a field is invalid.
        """
        data = body(FeatureFlagUpsert, enabled=enabled, value=value, description=description)
        return self._run(FEATURE_FLAGS.put(key, data))

    def delete(self, key: str) -> None:
        """Delete a flag.

        Raises:
            NotFound: no flag with this key.
        """
        self._run(FEATURE_FLAGS.delete(key))


def audit_filters(
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    actor_id: Ident | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    """The audit event filters under their query-parameter names (None: not filtered)."""
    return {
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "actor_id": actor_id,
        "since": since,
        "until": until,
    }


class Audit(SyncResource):
    """The organization's hash-chained audit log, newest first."""

    def events(
        self,
        *,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        actor_id: Ident | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[AuditEventRead]:
        """One page of audit events matching every filter given.

        Args:
            action: Exact action, or a prefix ending in ``*`` (``"project.*"``).
            target_type: e.g. ``"project"``.
            target_id: The target's id.
            actor_id: The acting user's id.
            since: Only events at or after this time.
            until: Only events before this time.
            limit: Page size.
            cursor: ``next_cursor`` of the previous page.

        Raises:
            ValidationError: a filter is malformed.
        """
        filters = audit_filters(action, target_type, target_id, actor_id, since, until)
        return self._run(AUDIT_EVENTS.list(limit=limit, cursor=cursor, **filters))

    def iter_events(
        self,
        *,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        actor_id: Ident | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[AuditEventRead]:
        """Every matching audit event, newest first; the filters are those of :meth:`events`."""
        filters = audit_filters(action, target_type, target_id, actor_id, since, until)
        return self._pages(
            lambda cursor: AUDIT_EVENTS.list(limit=page_size, cursor=cursor, **filters)
        )

    def verify(self) -> AuditVerifyRead:
        """Recompute the organization's hash chain.

        Returns:
            ``ok`` and, when the chain is broken, the first broken event and why.
        """
        return self._run(AUDIT_VERIFY)
