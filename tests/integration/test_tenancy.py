"""Tenancy: the organization comes from the key only, another tenant's resources answer 404 like
a missing id and never appear in lists; membership rules (owners, platform admins)."""

from __future__ import annotations

import uuid

from tests.factories import Api, Tenant
from tests.integration.route_table import BODIES, ROUTES, fill, request_kwargs, resources


async def test_cross_tenant_sweep_answers_404_like_a_random_id(
    api: Api, org_a: Tenant, org_b: Tenant
) -> None:
    ids_a = await resources(api, org_a)
    # Version numbers are integers in some routes: a missing one is a number nobody has.
    random_ids = {k: str(uuid.uuid4()) for k in ids_a} | {
        "key": "no-such-flag",
        "version": "987654",
    }
    failures = []
    for method, path, _ in ROUTES:
        # PUT /feature-flags/{key} is an upsert in the caller's own namespace, not a lookup.
        if "{" not in path or (method, path) == ("PUT", "/api/v1/feature-flags/{key}"):
            continue
        theirs = await api.as_(org_b).request(
            method, fill(path, ids_a), **request_kwargs(method, path)
        )
        missing = await api.as_(org_b).request(
            method, fill(path, random_ids), **request_kwargs(method, path)
        )
        if theirs.status_code != 404 or missing.status_code != 404:
            failures.append((method, path, theirs.status_code, missing.status_code))
        elif theirs.json()["error"] != missing.json()["error"]:
            failures.append((method, path, theirs.json(), missing.json()))
    assert not failures, failures
    # And org_a's things are all still there, untouched.
    owner_a = api.as_(org_a)
    assert (await owner_a.get(f"/api/v1/projects/{ids_a['project_id']}")).status_code == 200
    assert (await owner_a.get(f"/api/v1/feature-flags/{ids_a['key']}")).json()["enabled"] is True


async def test_lists_never_show_another_tenant(api: Api, org_a: Tenant, org_b: Tenant) -> None:
    ids_a = await resources(api, org_a)
    for path, key in [
        ("/api/v1/projects", "project_id"),
        ("/api/v1/users", "user_id"),
        ("/api/v1/api-keys", "key_id"),
        ("/api/v1/organizations", "organization_id"),
    ]:
        items = (await api.as_(org_b).get(path, params={"limit": 200})).json()["items"]
        assert ids_a[key] not in {i["id"] for i in items}, path
    flags = (await api.as_(org_b).get("/api/v1/feature-flags")).json()["items"]
    assert ids_a["key"] not in {f["key"] for f in flags}
    events = (await api.as_(org_b).get("/api/v1/audit/events")).json()["items"]
    assert all(e["target_id"] not in ids_a.values() for e in events)


async def test_tenant_comes_from_the_key_only(api: Api, org_a: Tenant, org_b: Tenant) -> None:
    """Headers, query or body naming another organization change nothing."""
    r = await api.as_(org_b).post(
        "/api/v1/projects",
        json={"name": "sneaky", "organization_id": org_a.organization_id},
        headers={"X-Organization-Id": org_a.organization_id},
    )
    assert r.status_code == 422  # unknown body field rejected
    r = await api.as_(org_b).post(
        "/api/v1/projects",
        params={"organization_id": org_a.organization_id},
        json={"name": "mine"},
        headers={"X-Organization-Id": org_a.organization_id},
    )
    assert r.status_code == 201
    listed = (await api.as_(org_a).get("/api/v1/projects")).json()["items"]
    assert "mine" not in {p["name"] for p in listed}


async def test_admin_cannot_grant_owner(api: Api, org_a: Tenant) -> None:
    admin = await api.member(org_a, role="admin")
    r = await api.as_(admin).post(
        "/api/v1/users", json={"email": "boss@example.com", "role": "owner"}
    )
    assert r.status_code == 403
    r = await api.as_(admin).patch(f"/api/v1/users/{org_a.owner_id}", json={"role": "viewer"})
    assert r.status_code == 403


async def test_last_owner_cannot_be_removed(api: Api, org_a: Tenant) -> None:
    r = await api.as_(org_a).delete(f"/api/v1/users/{org_a.owner_id}")
    assert r.status_code == 409
    assert (await api.as_(org_a).get("/api/v1/me")).status_code == 200


async def test_only_platform_admins_create_organizations(
    api: Api, org_a: Tenant, platform_admin: Tenant
) -> None:
    body = BODIES[("POST", "/api/v1/organizations")]()
    assert (await api.as_(org_a).post("/api/v1/organizations", json=body)).status_code == 403
    created = await api.as_(platform_admin).post("/api/v1/organizations", json=body)
    assert created.status_code == 201
    again = await api.as_(platform_admin).post("/api/v1/organizations", json=body)
    assert again.status_code == 409
