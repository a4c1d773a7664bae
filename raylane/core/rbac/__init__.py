"""Roles and permissions: the one policy table, and the Actor a request acts as."""

from raylane.core.rbac.policy import (
    PLATFORM_PERMISSIONS,
    PLATFORM_ROLES,
    ROLE_PERMISSIONS,
    Actor,
    Permission,
    Role,
    effective_permissions,
    has_platform_reach,
    outranks,
)

__all__ = [
    "PLATFORM_PERMISSIONS",
    "PLATFORM_ROLES",
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "Role",
    "effective_permissions",
    "has_platform_reach",
    "outranks",
]
