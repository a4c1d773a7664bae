"""AuditService on real Postgres: targets named from rows or pairs, the chain, the verifier."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from raylane.core.audit import audit_service
from raylane.core.audit.repository import AuditRepository
from raylane.core.audit.service import GENESIS, event_hash
from raylane.core.projects.models import Project
from raylane.core.projects.repository import ProjectRepository
from raylane.core.rbac import Actor
from tests.integration.services.conftest import Scope


async def test_a_row_target_is_named_by_its_class_and_id(tenant: Actor, scoped: Scope) -> None:
    async with scoped(tenant) as session:
        project = await ProjectRepository(session).add(
            Project(organization_id=tenant.organization_id, name="audited")
        )
        event = await audit_service.log(
            session, tenant, "project.update", target=project, before={"a": 1}, after={"a": 2}
        )
    assert (event.target_type, event.target_id) == ("project", str(project.id))
    assert event.summary == {"before": {"a": 1}, "after": {"a": 2}}
    assert (event.actor_type, event.actor_id) == ("user", tenant.user_id)


async def test_a_pair_target_and_a_multiword_class(tenant: Actor, scoped: Scope) -> None:
    from raylane.core.apikeys.repository import ApiKeyRepository

    async with scoped(tenant) as session:
        flag = await audit_service.log(session, tenant, "x.set", target=("feature_flag", "beta"))
        key = (await ApiKeyRepository(session).page(limit=1, cursor=None)).items[0]
        keyed = await audit_service.log(session, tenant, "api_key.touch", target=key)
    assert (flag.target_type, flag.target_id, flag.summary) == ("feature_flag", "beta", {})
    assert (keyed.target_type, keyed.target_id) == ("api_key", str(key.id))


async def test_events_chain_and_verify(tenant: Actor, scoped: Scope) -> None:
    async with scoped(tenant) as session:
        first = await audit_service.log(session, tenant, "a.one", target=("thing", 1))
        second = await audit_service.log(session, tenant, "a.two", target=("thing", 2))
    # provision wrote organization.create (seq 1) and the owner key lives under it
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash
    assert first.hash == event_hash(first) and second.hash == event_hash(second)
    async with scoped(tenant) as session:
        report = await audit_service.verify(session)
        newest = await AuditRepository(session).events(limit=2, cursor=None, action="a.*")
    assert report.ok and report.checked == second.seq
    assert [e.action for e in newest.items] == ["a.two", "a.one"]


async def test_system_events_need_an_organization(tenant: Actor, scoped: Scope) -> None:
    async with scoped(tenant) as session:
        before = await AuditRepository(session).count()
        with pytest.raises(ValueError, match="organization"):
            await audit_service.log(session, None, "system.thing", target=("thing", 1))
        system = await audit_service.log(
            session,
            None,
            "system.thing",
            target=("thing", 1),
            organization_id=tenant.organization_id,
        )
        assert await AuditRepository(session).count() == before + 1
    assert (system.actor_type, system.actor_id, system.api_key_id) == ("system", None, None)


async def test_verify_names_the_first_tampered_row(
    tenant: Actor, scoped: Scope, owner_conn: psycopg.Connection[Any]
) -> None:
    async with scoped(tenant) as session:
        events = [
            await audit_service.log(session, tenant, "t.step", target=("thing", i))
            for i in range(3)
        ]
    # The application role may not UPDATE audit rows; the schema owner can (an attacker with it).
    owner_conn.execute(
        "UPDATE audit_events SET summary = '{\"after\": 1}' WHERE id = %s", (events[1].id,)
    )
    async with scoped(tenant) as session:
        report = await audit_service.verify(session)
    assert not report.ok
    assert (report.first_broken_seq, report.first_broken_id) == (events[1].seq, events[1].id)
    assert report.reason == "content does not match its hash"


async def test_the_first_event_starts_from_genesis(tenant: Actor, scoped: Scope) -> None:
    async with scoped(tenant) as session:
        chain = [e async for e in AuditRepository(session).chain()]
    assert chain[0].seq == 1 and chain[0].prev_hash == GENESIS
    assert chain[0].action == "organization.create" and chain[0].actor_type == "system"
    assert chain[0].target_id == str(tenant.organization_id)
    assert isinstance(uuid.UUID(chain[0].target_id), uuid.UUID)
