from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from raylane.core.audit import audit_service
from raylane.core.rbac import Permission
from raylane.schemas.audit import AuditEventRead, AuditVerifyRead
from raylane.schemas.common import DateTime, Page
from raylane.serve.deps import PageDep, ReadSessionDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], route_class=Route)


@router.get("/events", dependencies=[require(Permission.AUDIT_READ)])
async def list_audit_events(
    session: ReadSessionDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    actor_id: uuid.UUID | None = None,
    since: DateTime | None = None,
    until: DateTime | None = None,
) -> Page[AuditEventRead]:
    """Newest first. ``action`` may end in ``*`` (``project.*``); ``since`` and ``until`` are
    RFC 3339 date-times with an offset (``2026-01-31T12:00:00Z``)."""
    result = await audit_service.page(
        session,
        limit=page.limit,
        cursor=page.cursor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        actor_id=actor_id,
        since=since,
        until=until,
    )
    return page_of(result, AuditEventRead)  # type: ignore[no-any-return]


@router.get("/verify", dependencies=[require(Permission.AUDIT_READ)])
async def verify_audit_chain(session: SessionDep) -> AuditVerifyRead:
    """Recompute the organization's hash chain; names the first broken link."""
    return AuditVerifyRead.model_validate(await audit_service.verify(session))
