"""ProjectService called directly: create, rename, delete, each audited; conflicts and reach."""

from __future__ import annotations

from typing import Any

import pytest

from raylane.core.audit.repository import AuditRepository
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.errors import Conflict, NotFound
from raylane.infra.storage import store_from_settings
from raylane.schemas.projects import ProjectCreate, ProjectUpdate
from tests.integration.services.conftest import Scope


async def _actions(scoped: Scope, actor: Actor, target_id: object) -> list[tuple[str, Any]]:
    async with scoped(actor) as session:
        page = await AuditRepository(session).events(
            limit=20, cursor=None, target_type="project", target_id=str(target_id)
        )
    return [(e.action, e.summary) for e in reversed(page.items)]


async def test_create_rename_delete_are_audited(
    tenant: Actor, scoped: Scope, services: Any
) -> None:
    async with scoped(tenant) as session:
        project = await project_service.create(
            session, actor=tenant, data=ProjectCreate(name="alpha", description="first")
        )
    async with scoped(tenant) as session:
        renamed = await project_service.update(
            session, actor=tenant, project_id=project.id, data=ProjectUpdate(name="beta")
        )
        assert (renamed.name, renamed.description) == ("beta", "first")
    async with scoped(tenant) as session:
        await project_service.delete(
            session, actor=tenant, project_id=project.id, store=store_from_settings(services)
        )
    async with scoped(tenant) as session:
        with pytest.raises(NotFound):
            await project_service.get(session, project_id=project.id)
    assert await _actions(scoped, tenant, project.id) == [
        ("project.create", {"after": {"name": "alpha", "description": "first"}}),
        (
            "project.update",
            {
                "before": {"name": "alpha", "description": "first"},
                "after": {"name": "beta", "description": "first"},
            },
        ),
        ("project.delete", {"before": {"name": "beta", "description": "first"}}),
    ]


async def test_a_duplicate_name_is_a_conflict_and_writes_nothing(
    tenant: Actor, scoped: Scope
) -> None:
    async with scoped(tenant) as session:
        first = await project_service.create(session, actor=tenant, data=ProjectCreate(name="dup"))
        with pytest.raises(Conflict):
            await project_service.create(session, actor=tenant, data=ProjectCreate(name="dup"))
        # The savepoint took only the failed insert back: the transaction goes on.
        page = await project_service.page(session, limit=10, cursor=None)
    assert [p.id for p in page.items] == [first.id]
    assert [a for a, _ in await _actions(scoped, tenant, first.id)] == ["project.create"]


async def test_another_tenants_project_is_not_found(
    tenant: Actor, other_tenant: Actor, scoped: Scope
) -> None:
    async with scoped(tenant) as session:
        mine = await project_service.create(session, actor=tenant, data=ProjectCreate(name="p"))
    async with scoped(other_tenant) as session:
        with pytest.raises(NotFound):
            await project_service.get(session, project_id=mine.id)
        with pytest.raises(NotFound):
            await project_service.update(
                session, actor=other_tenant, project_id=mine.id, data=ProjectUpdate(name="x")
            )
        assert (await project_service.page(session, limit=10, cursor=None)).items == []
    async with scoped(tenant) as session:
        assert (await project_service.get(session, project_id=mine.id)).name == "p"


async def test_pages_walk_every_project_once(tenant: Actor, scoped: Scope) -> None:
    async with scoped(tenant) as session:
        made = [
            (await project_service.create(session, actor=tenant, data=ProjectCreate(name=n))).id
            for n in ("a", "b", "c")
        ]
        first = await project_service.page(session, limit=2, cursor=None)
        rest = await project_service.page(session, limit=2, cursor=first.next_cursor)
    assert [p.id for p in first.items + rest.items] == made
    assert first.next_cursor is not None and rest.next_cursor is None
