"""The RBAC policy: permissions, roles, the one role → permission table, and the Actor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from raylane.errors import PermissionDenied


class Permission(StrEnum):
    ORG_READ = "org:read"
    ORG_UPDATE = "org:update"
    ORG_CREATE = "org:create"  # platform administrators only; no role grants it
    USER_READ = "user:read"
    USER_WRITE = "user:write"
    APIKEY_SELF = "apikey:self"  # create, list and revoke one's own keys
    APIKEY_ADMIN = "apikey:admin"  # manage every member's keys
    PROJECT_READ = "project:read"
    PROJECT_WRITE = "project:write"
    FLAG_READ = "flag:read"
    FLAG_WRITE = "flag:write"
    AUDIT_READ = "audit:read"
    COLLECTION_READ = "collection:read"  # list, get and search collections and documents
    COLLECTION_WRITE = "collection:write"  # create, upload, ingest, delete
    RUN_READ = "run:read"
    RUN_WRITE = "run:write"  # cancel
    COPILOT_USE = "copilot:use"  # chat, conversations, the OpenAI-compatible API
    USAGE_READ = "usage:read"
    OBSERVABILITY_READ = "observability:read"
    GUARDRAIL_READ = "guardrail:read"  # read policies, test a text against them
    GUARDRAIL_WRITE = "guardrail:write"  # set and clear policies
    DATASET_READ = "dataset:read"  # list and get datasets and versions, download a version
    DATASET_WRITE = "dataset:write"  # create datasets, upload or materialise versions
    EXPERIMENT_READ = "experiment:read"  # experiments, tracking runs, metrics, artifacts
    EXPERIMENT_WRITE = "experiment:write"  # create, log to and end tracking runs
    MODEL_READ = "model:read"  # registered models, versions, aliases
    MODEL_WRITE = "model:write"  # register models and versions, move aliases
    AGENT_TEST_READ = "agenttest:read"  # suites, targets, test runs and their results
    AGENT_TEST_WRITE = "agenttest:write"  # add suite versions and targets, start test runs
    ENDPOINT_READ = "endpoint:read"  # endpoints, copilot configurations, per-version metrics
    ENDPOINT_WRITE = "endpoint:write"  # create endpoints and configurations, set the split


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"


_VIEWER = {
    Permission.ORG_READ,
    Permission.USER_READ,
    Permission.PROJECT_READ,
    Permission.FLAG_READ,
    Permission.APIKEY_SELF,
    Permission.COLLECTION_READ,
    Permission.RUN_READ,
    Permission.GUARDRAIL_READ,
    Permission.COPILOT_USE,
    Permission.DATASET_READ,
    Permission.EXPERIMENT_READ,
    Permission.MODEL_READ,
    Permission.AGENT_TEST_READ,
    Permission.ENDPOINT_READ,
}
_DEVELOPER = _VIEWER | {
    Permission.PROJECT_WRITE,
    Permission.OBSERVABILITY_READ,
    Permission.COLLECTION_WRITE,
    Permission.RUN_WRITE,
    Permission.DATASET_WRITE,
    Permission.EXPERIMENT_WRITE,
    Permission.MODEL_WRITE,
    Permission.AGENT_TEST_WRITE,
    Permission.ENDPOINT_WRITE,
}
_ADMIN = _DEVELOPER | {
    Permission.USER_WRITE,
    Permission.APIKEY_ADMIN,
    Permission.FLAG_WRITE,
    Permission.AUDIT_READ,
    Permission.GUARDRAIL_WRITE,
    Permission.USAGE_READ,
}
_OWNER = _ADMIN | {Permission.ORG_UPDATE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(_VIEWER),
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.ADMIN: frozenset(_ADMIN),
    Role.OWNER: frozenset(_OWNER),
}
PLATFORM_PERMISSIONS = frozenset({Permission.ORG_CREATE})
PLATFORM_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def has_platform_reach(role: Role, *, platform_org: bool) -> bool:
    """Platform powers belong to the platform organization's owners and admins, and to no one
    else: a user row carries no such flag, so no other organization can confer them."""
    return platform_org and role in PLATFORM_ROLES


def effective_permissions(
    role: Role, scopes: list[str], *, platform_admin: bool
) -> frozenset[Permission]:
    """The role's permissions, narrowed to the key's scopes when it has any."""
    granted = ROLE_PERMISSIONS[role] | (PLATFORM_PERMISSIONS if platform_admin else frozenset())
    if scopes and "*" not in scopes:
        granted = granted & {Permission(s) for s in scopes if s in Permission._value2member_map_}
    return frozenset(granted)


def outranks(a: Role, b: Role) -> bool:
    """True when role ``a`` holds every permission of ``b``."""
    return ROLE_PERMISSIONS[a] >= ROLE_PERMISSIONS[b]


@dataclass(frozen=True)
class Actor:
    """Who is acting: resolved from the API key alone, plus the request's id and address."""

    organization_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    permissions: frozenset[Permission]
    api_key_id: uuid.UUID | None = None
    is_platform_admin: bool = False
    request_id: str | None = None
    ip: str | None = None
    scopes: tuple[str, ...] = field(default=())
    region: str | None = None

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(f"missing permission {permission.value}")
