"""Organizations, users, memberships and the caller's identity."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from raylane.schemas.common import Bool, Email, Input, Name, Output, RoleName, Text


class OrganizationCreate(Input):
    name: Name = Field(max_length=200)
    slug: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
    region: Text | None = Field(default=None, max_length=64)
    owner_email: Email
    owner_name: Text = Field(default="", max_length=200)


class OrganizationUpdate(Input):
    name: Name = Field(max_length=200)


class OrganizationRead(Output):
    id: uuid.UUID
    name: str
    slug: str
    region: str
    created_at: datetime
    updated_at: datetime


class OrganizationCreated(Output):
    """A new organization, its owner, and the owner's first API key (shown once)."""

    organization: OrganizationRead
    owner_user_id: uuid.UUID
    owner_api_key: str


class UserCreate(Input):
    email: Email
    name: Text = Field(default="", max_length=200)
    role: RoleName = "developer"


class UserUpdate(Input):
    name: Text | None = Field(default=None, max_length=200)
    role: RoleName | None = None
    is_active: Bool | None = None


class UserRead(Output):
    """A user as a member of the caller's organization."""

    id: uuid.UUID
    email: str
    name: str
    role: RoleName
    is_active: bool
    created_at: datetime


class MeRead(Output):
    user_id: uuid.UUID
    email: str
    name: str
    organization: OrganizationRead
    role: RoleName
    permissions: list[str]
    api_key_id: uuid.UUID | None
    is_platform_admin: bool
    # Where this deployment's Ray dashboard is (a job's page: ``{url}/#/jobs/{ray_job_id}``).
    ray_dashboard_url: str | None = None
