"""RBAC: every route declares a permission, and every role gets 403 on exactly the routes the
one policy table withholds from it (generated from the routes and the table)."""

from __future__ import annotations

import pytest

from raylane.core.rbac import ROLE_PERMISSIONS, Role
from tests.factories import Api, Tenant
from tests.integration.route_table import (
    BODIES,
    MULTIPART,
    ROUTES,
    SUCCESS,
    fill,
    parent_depth,
    request_kwargs,
    resources,
)


def test_every_route_declares_a_permission() -> None:
    missing = [(m, p) for m, p, perm in ROUTES if perm is None]
    assert not missing, f"routes without a permission: {missing}"


def test_every_mutating_route_has_a_request_in_the_table() -> None:
    mutating = {(m, p) for m, p, _ in ROUTES if m in {"POST", "PATCH", "PUT"}}
    assert mutating <= set(BODIES) | set(MULTIPART), mutating - set(BODIES) - set(MULTIPART)


@pytest.mark.parametrize("role", [r.value for r in Role])
async def test_each_role_is_denied_exactly_what_the_policy_table_withholds(
    api: Api, org_a: Tenant, role: str
) -> None:
    """Every role x every route: 403 exactly when the policy table withholds the permission,
    the route's documented success status otherwise."""
    ids = await resources(api, org_a)
    member = await api.member(org_a, role=role) if role != "owner" else org_a
    granted = ROLE_PERMISSIONS[Role(role)]
    # Members see only their own keys: the key routes act on one of the member's.
    own = await api.as_(member).post("/api/v1/api-keys", json={"name": "own"})
    if own.status_code == 201:
        ids["key_id"] = own.json()["id"]
    failures = []
    # Deletes last, so they do not remove what later routes use; parents after their children.
    for method, path, perm in sorted(ROUTES, key=lambda r: (r[0] == "DELETE", parent_depth(r[1]))):
        r = await api.as_(member).request(method, fill(path, ids), **request_kwargs(method, path))
        denied = perm not in granted
        if denied and r.status_code != 403:
            failures.append((method, path, r.status_code, "expected 403"))
        # A permitted call must succeed, not merely get past the check (a 500 is no pass).
        if not denied and r.status_code != SUCCESS[(method, path)]:
            failures.append((method, path, r.status_code, r.text[:300]))
        if denied:
            assert r.json()["error"] == "permission_denied"
    assert not failures, "\n".join(map(str, failures))
