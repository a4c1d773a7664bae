"""The RBAC table: nested roles, organization creation, scopes that only narrow."""

from __future__ import annotations

import itertools

from raylane.core.rbac import ROLE_PERMISSIONS, Permission, Role, effective_permissions, outranks


class TestRbac:
    def test_roles_are_nested(self) -> None:
        order = [Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER]
        for low, high in itertools.pairwise(order):
            assert ROLE_PERMISSIONS[low] < ROLE_PERMISSIONS[high]
            assert outranks(high, low) and not outranks(low, high)

    def test_no_role_creates_organizations(self) -> None:
        assert all(Permission.ORG_CREATE not in p for p in ROLE_PERMISSIONS.values())
        assert Permission.ORG_CREATE in effective_permissions(Role.VIEWER, [], platform_admin=True)

    def test_scopes_narrow_never_widen(self) -> None:
        narrowed = effective_permissions(
            Role.VIEWER, ["project:read", "audit:read"], platform_admin=False
        )
        assert narrowed == {Permission.PROJECT_READ}
        assert (
            effective_permissions(Role.ADMIN, ["*"], platform_admin=False)
            == ROLE_PERMISSIONS[Role.ADMIN]
        )
