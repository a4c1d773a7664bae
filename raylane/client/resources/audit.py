"""The organization's hash-chained audit log: request shapes, and the sync and async groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any, Final

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
)
from raylane.schemas.audit import AuditEventRead, AuditVerifyRead
from raylane.schemas.common import Page

AUDIT_EVENTS: Final = Collection("/api/v1/audit/events", AuditEventRead)
VERIFY: Final = Call("GET", "/api/v1/audit/verify", AuditVerifyRead.model_validate)


class _Audit:
    """The request shapes of ``/audit`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def filters(
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
        where = _Audit.filters(action, target_type, target_id, actor_id, since, until)
        return self._run(AUDIT_EVENTS.list(limit=limit, cursor=cursor, **where))

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
        where = _Audit.filters(action, target_type, target_id, actor_id, since, until)
        return self._pages(
            lambda cursor: AUDIT_EVENTS.list(limit=page_size, cursor=cursor, **where)
        )

    def verify(self) -> AuditVerifyRead:
        """Recompute the organization's hash chain.

        Returns:
            ``ok`` and, when the chain is broken, the first broken event and why.
        """
        return self._run(VERIFY)


class AsyncAudit(AsyncResource, twin=Audit):
    async def events(
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
        where = _Audit.filters(action, target_type, target_id, actor_id, since, until)
        return await self._run(AUDIT_EVENTS.list(limit=limit, cursor=cursor, **where))

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
    ) -> AsyncIterator[AuditEventRead]:
        where = _Audit.filters(action, target_type, target_id, actor_id, since, until)
        return self._pages(
            lambda cursor: AUDIT_EVENTS.list(limit=page_size, cursor=cursor, **where)
        )

    async def verify(self) -> AuditVerifyRead:
        return await self._run(VERIFY)
