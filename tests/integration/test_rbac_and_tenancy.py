"""RBAC matrix and cross-tenant sweep, generated from the routes and the one policy table."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from raylane.core.rbac import ROLE_PERMISSIONS, Permission, Role
from raylane.serve.app import ROUTERS
from tests.factories import Api, Tenant

# A valid body for every mutating route; a route missing here fails test_every_route_is_covered.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/organizations"): lambda: {
        "name": "X",
        "slug": f"x-{uuid.uuid4().hex[:8]}",
        "owner_email": f"o-{uuid.uuid4().hex[:6]}@example.com",
    },
    ("PATCH", "/api/v1/organizations/{organization_id}"): lambda: {"name": "Renamed"},
    ("POST", "/api/v1/users"): lambda: {
        "email": f"u-{uuid.uuid4().hex[:6]}@example.com",
        "role": "viewer",
    },
    ("PATCH", "/api/v1/users/{user_id}"): lambda: {"name": "Someone"},
    ("POST", "/api/v1/api-keys"): lambda: {"name": "k"},
    ("POST", "/api/v1/projects"): lambda: {"name": f"p-{uuid.uuid4().hex[:8]}"},
    ("PATCH", "/api/v1/projects/{project_id}"): lambda: {"description": "d"},
    ("PUT", "/api/v1/feature-flags/{key}"): lambda: {"enabled": True},
    ("POST", "/api/v1/projects/{project_id}/collections"): lambda: {
        "name": f"c-{uuid.uuid4().hex[:8]}"
    },
    ("POST", "/api/v1/collections/{collection_id}/documents/text"): lambda: {
        "documents": [{"name": f"d-{uuid.uuid4().hex[:6]}.txt", "text": "hello world"}]
    },
    ("POST", "/api/v1/collections/{collection_id}/search"): lambda: {
        "vector": [0.1] * 384,
        "top_k": 1,
    },
    ("POST", "/api/v1/collections/{collection_id}/ingest"): lambda: None,
    ("POST", "/api/v1/runs/{run_id}/cancel"): lambda: None,
    ("PUT", "/api/v1/guardrails/policy"): lambda: {"detectors": {"email": {"action": "redact"}}},
    ("PUT", "/api/v1/projects/{project_id}/guardrails/policy"): lambda: {"max_input_tokens": 4000},
    ("POST", "/api/v1/guardrails/check"): lambda: {"text": "mail me at ada@example.com"},
    ("POST", "/api/v1/projects/{project_id}/copilot/chat"): lambda: {
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 2,
    },
    ("POST", "/v1/chat/completions"): lambda: {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 2,
    },
}
# Multipart routes: request keyword arguments instead of a JSON body.
MULTIPART: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/collections/{collection_id}/documents"): lambda: {
        "files": [("files", (f"f-{uuid.uuid4().hex[:6]}.txt", b"some text", "text/plain"))]
    },
}


def _kwargs(method: str, path: str) -> dict[str, Any]:
    if (method, path) in MULTIPART:
        return MULTIPART[(method, path)]()  # type: ignore[no-any-return]
    body = BODIES.get((method, path))
    return {"json": body() if body else None}


def routes() -> list[tuple[str, str, Permission | None]]:
    """(method, path template, required permission) for every authenticated API route."""
    out = []
    for module in ROUTERS:
        for route in module.router.routes:
            perm = None
            for dep in route.dependencies:
                perm = getattr(dep.dependency, "permission", perm)
            for method in sorted(route.methods - {"HEAD"}):
                if route.path.startswith(("/api/v1", "/v1/")) and route.path != "/api/v1/me":
                    out.append((method, route.path, perm))
    return out


def success_statuses() -> dict[tuple[str, str], int]:
    """The status each route documents for success (its OpenAPI ``status_code``, else 200)."""
    return {
        (method, route.path): route.status_code or 200
        for module in ROUTERS
        for route in module.router.routes
        for method in route.methods
    }


ROUTES = routes()
SUCCESS = success_statuses()


def test_every_route_declares_a_permission() -> None:
    missing = [(m, p) for m, p, perm in ROUTES if perm is None]
    assert not missing, f"routes without a permission: {missing}"


def test_every_route_is_covered() -> None:
    mutating = {(m, p) for m, p, _ in ROUTES if m in {"POST", "PATCH", "PUT"}}
    assert mutating <= set(BODIES) | set(MULTIPART), mutating - set(BODIES) - set(MULTIPART)


async def _fixtures(api: Api, tenant: Tenant) -> dict[str, str]:
    """One resource of each kind in ``tenant``, for path parameters."""
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    user = (
        await owner.post(
            "/api/v1/users",
            json={"email": f"m-{uuid.uuid4().hex[:8]}@example.com", "role": "viewer"},
        )
    ).json()
    key = (await owner.post("/api/v1/api-keys", json={"name": "fixture"})).json()
    flag = f"flag-{uuid.uuid4().hex[:8]}"
    assert (
        await owner.put(f"/api/v1/feature-flags/{flag}", json={"enabled": True})
    ).status_code == 200
    collection = (
        await owner.post(f"/api/v1/projects/{project['id']}/collections", json={"name": "docs"})
    ).json()
    document = (
        await owner.post(
            f"/api/v1/collections/{collection['id']}/documents/text",
            json={"documents": [{"name": "a.txt", "text": "alpha"}]},
        )
    ).json()[0]["document"]
    # The run is another collection's, so the matrix's own ingest finds none in progress.
    queued = (
        await owner.post(f"/api/v1/projects/{project['id']}/collections", json={"name": "runs"})
    ).json()
    await owner.post(
        f"/api/v1/collections/{queued['id']}/documents/text",
        json={"documents": [{"name": "b.txt", "text": "beta"}]},
    )
    run = (await owner.post(f"/api/v1/collections/{queued['id']}/ingest")).json()
    answer = await owner.post(
        f"/api/v1/projects/{project['id']}/copilot/chat",
        json={"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1},
    )
    assert answer.status_code == 200, answer.text
    return {
        "conversation_id": answer.json()["conversation_id"],
        "collection_id": collection["id"],
        "document_id": document["id"],
        "run_id": run["id"],
        "organization_id": tenant.organization_id,
        "project_id": project["id"],
        "user_id": user["id"],
        "key_id": key["id"],
        "key": flag,
    }


def _parent(path: str) -> int:
    """Deleting a project removes its collections, and a collection its documents."""
    return {"/api/v1/collections/{collection_id}": 1, "/api/v1/projects/{project_id}": 2}.get(
        path, 0
    )


def _fill(path: str, ids: dict[str, str]) -> str:
    return path.format(**ids) if "{" in path else path


@pytest.mark.parametrize("role", [r.value for r in Role])
async def test_rbac_matrix(api: Api, org_a: Tenant, role: str) -> None:
    """Every role x every route: 403 exactly when the policy table withholds the permission,
    the route's documented success status otherwise."""
    ids = await _fixtures(api, org_a)
    member = await api.member(org_a, role=role) if role != "owner" else org_a
    granted = ROLE_PERMISSIONS[Role(role)]
    # Members see only their own keys: the key routes act on one of the member's.
    own = await api.as_(member).post("/api/v1/api-keys", json={"name": "own"})
    if own.status_code == 201:
        ids["key_id"] = own.json()["id"]
    failures = []
    # Deletes last, so they do not remove what later routes use; parents after their children.
    for method, path, perm in sorted(ROUTES, key=lambda r: (r[0] == "DELETE", _parent(r[1]))):
        r = await api.as_(member).request(method, _fill(path, ids), **_kwargs(method, path))
        denied = perm not in granted
        if denied and r.status_code != 403:
            failures.append((method, path, r.status_code, "expected 403"))
        # A permitted call must succeed, not merely get past the check (a 500 is no pass).
        if not denied and r.status_code != SUCCESS[(method, path)]:
            failures.append((method, path, r.status_code, r.text[:300]))
        if denied:
            assert r.json()["error"] == "permission_denied"
    assert not failures, "\n".join(map(str, failures))


async def test_cross_tenant_sweep_answers_404_like_a_random_id(
    api: Api, org_a: Tenant, org_b: Tenant
) -> None:
    ids_a = await _fixtures(api, org_a)
    random_ids = {k: str(uuid.uuid4()) for k in ids_a} | {"key": "no-such-flag"}
    failures = []
    for method, path, _ in ROUTES:
        # PUT /feature-flags/{key} is an upsert in the caller's own namespace, not a lookup.
        if "{" not in path or (method, path) == ("PUT", "/api/v1/feature-flags/{key}"):
            continue
        theirs = await api.as_(org_b).request(method, _fill(path, ids_a), **_kwargs(method, path))
        missing = await api.as_(org_b).request(
            method, _fill(path, random_ids), **_kwargs(method, path)
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
    ids_a = await _fixtures(api, org_a)
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


async def test_admin_cannot_mint_a_key_for_an_owner(api: Api, org_a: Tenant) -> None:
    admin = await api.member(org_a, role="admin")
    r = await api.as_(admin).post(
        "/api/v1/api-keys", json={"name": "steal", "user_id": org_a.owner_id}
    )
    assert r.status_code == 403
    dev = await api.member(org_a, role="developer")
    r = await api.as_(admin).post("/api/v1/api-keys", json={"name": "ok", "user_id": dev.owner_id})
    assert r.status_code == 201


async def test_members_list_only_their_own_keys(api: Api, org_a: Tenant) -> None:
    dev = await api.member(org_a, role="developer")
    listed = (await api.as_(dev).get("/api/v1/api-keys")).json()["items"]
    assert {k["user_id"] for k in listed} == {dev.owner_id}
    everyone = (await api.as_(org_a).get("/api/v1/api-keys?limit=200")).json()["items"]
    assert {dev.owner_id, org_a.owner_id} <= {k["user_id"] for k in everyone}
