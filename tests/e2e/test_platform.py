"""The Serve app on one local Ray, driven through the SDK and the real CLI."""

from __future__ import annotations

import json
import uuid

import pytest

from raylane.client import AsyncClient, Client, NotFound, PermissionDenied, Unauthenticated
from tests.e2e.conftest import Stack


def test_up_printed_urls_and_key_once(stack: Stack) -> None:
    assert stack.url in stack.up_output
    assert "Dashboard" in stack.up_output
    assert stack.admin_key.startswith("rl_") and stack.admin_key in stack.up_output


def test_health_through_serve_reports_every_part_up(stack: Stack) -> None:
    with Client(stack.url, stack.admin_key) as client:
        health = client.health()
    assert health.status == "ok"
    assert {k: v.status for k, v in health.components.items()} == {
        "database": "up",
        "redis": "up",
        "ray": "up",
    }


def test_sdk_tenant_lifecycle(stack: Stack) -> None:
    slug = f"e2e-{uuid.uuid4().hex[:6]}"
    with Client(stack.url, stack.admin_key) as admin:
        created = admin.organizations.create(
            name="E2E", slug=slug, owner_email=f"owner@{slug}.example.com"
        )
    with Client(stack.url, created.owner_api_key) as owner:
        me = owner.me()
        assert me.organization.slug == slug and me.role == "owner"
        for i in range(5):
            owner.projects.create(name=f"p{i}")
        names = [p.name for p in owner.projects.iter(page_size=2)]
        assert sorted(names) == [f"p{i}" for i in range(5)]
        viewer = owner.users.create(email=f"v@{slug}.example.com", role="viewer")
        key = owner.api_keys.create(name="viewer", user_id=viewer.id)
    with Client(stack.url, key.secret) as as_viewer:
        assert len(as_viewer.projects.list().items) == 5
        with pytest.raises(PermissionDenied):
            as_viewer.projects.create(name="nope")
    with Client(stack.url, stack.admin_key) as admin:
        # The platform org cannot see the tenant's projects: 404, same as a random id.
        project_id = next(iter(Client(stack.url, created.owner_api_key).projects.iter())).id
        with pytest.raises(NotFound):
            admin.projects.get(project_id)
    with Client(stack.url, created.owner_api_key) as owner:
        owner.api_keys.revoke(key.id)
    with Client(stack.url, key.secret) as revoked, pytest.raises(Unauthenticated):
        revoked.me()


async def test_async_client(stack: Stack) -> None:
    async with AsyncClient(stack.url, stack.admin_key) as client:
        me = await client.me()
        project = await client.projects.create(name=f"async-{uuid.uuid4().hex[:6]}")
        fetched = await client.projects.get(project.id)
    assert fetched.id == project.id and me.is_platform_admin


def test_cli_projects_and_audit(stack: Stack) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    stack.cli("projects", "create", "--name", name, "--description", "from the CLI")
    listed = json.loads(stack.cli("projects", "list", "--output", "json").stdout)
    assert name in {p["name"] for p in listed}
    verify = stack.cli("audit", "verify", "--output", "json")
    assert json.loads(verify.stdout)["ok"] is True
    bad = stack.cli("projects", "get", str(uuid.uuid4()), check=False)
    assert bad.returncode == 1 and "not_found" in bad.stderr


def test_status_and_second_up_start_nothing_new(stack: Stack) -> None:
    status = json.loads(stack.cli("status", "--output", "json").stdout)
    assert {p["name"]: p["running"] for p in status} == {
        "postgres": True,
        "redis": True,
        "ray": True,
        "api": True,
    }
    again = stack.cli("up")
    assert "Bootstrap admin API key" not in again.stdout + again.stderr
    with Client(stack.url, stack.admin_key) as client:
        assert client.health().status == "ok"
        orgs = [o.slug for o in client.organizations.iter()]
    assert orgs.count("platform") == 1
