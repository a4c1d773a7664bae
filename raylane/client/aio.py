"""The non-blocking Python client: :class:`AsyncClient` mirrors :class:`Client` call for call.

Example::

    async with AsyncClient() as client:
        me = await client.me()
        async for event in client.audit.iter_events(action="project.*"):
            print(event.seq, event.action)

Each method takes the same arguments, returns the same models and raises the same errors as
its blocking twin, whose docstring it carries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from raylane.client import _copilot, tenancy, workspace
from raylane.client import client as sync
from raylane.client._http import DEFAULT_TIMEOUT, AsyncHttpClient
from raylane.client._resources import (
    API_KEYS,
    AUDIT_EVENTS,
    AUDIT_VERIFY,
    DEFAULT_PAGE_SIZE,
    FEATURE_FLAGS,
    HEALTH,
    ME,
    ORGANIZATIONS,
    PROJECTS,
    UNSET,
    USERS,
    AsyncResource,
    Ident,
    Unset,
    asend,
    body,
    mirrors,
)
from raylane.client.aio_copilot import AsyncCopilot
from raylane.client.aio_data import AsyncCollections, AsyncDocuments, AsyncRuns
from raylane.client.aio_guardrails import AsyncGuardrails
from raylane.client.config import resolve
from raylane.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from raylane.schemas.audit import AuditEventRead, AuditVerifyRead
from raylane.schemas.common import Page, RoleName
from raylane.schemas.copilot import UsageRead
from raylane.schemas.flags import FeatureFlagRead, FeatureFlagUpsert
from raylane.schemas.health import HealthRead
from raylane.schemas.projects import ProjectCreate, ProjectRead, ProjectUpdate
from raylane.schemas.tenancy import (
    MeRead,
    OrganizationCreate,
    OrganizationCreated,
    OrganizationRead,
    OrganizationUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)


class AsyncOrganizations(AsyncResource):
    """Async form of :class:`raylane.client.tenancy.Organizations`."""

    @mirrors(tenancy.Organizations.create)
    async def create(
        self,
        *,
        name: str,
        slug: str,
        owner_email: str,
        owner_name: str = "",
        region: str | None = None,
    ) -> OrganizationCreated:
        data = body(
            OrganizationCreate,
            name=name,
            slug=slug,
            owner_email=owner_email,
            owner_name=owner_name,
            region=region,
        )
        return await self._run(ORGANIZATIONS.create(data, OrganizationCreated))

    @mirrors(tenancy.Organizations.list)
    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[OrganizationRead]:
        return await self._run(ORGANIZATIONS.list(limit=limit, cursor=cursor))

    @mirrors(tenancy.Organizations.iter)
    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[OrganizationRead]:
        return self._pages(lambda cursor: ORGANIZATIONS.list(limit=page_size, cursor=cursor))

    @mirrors(tenancy.Organizations.get)
    async def get(self, organization_id: Ident) -> OrganizationRead:
        return await self._run(ORGANIZATIONS.get(organization_id))

    @mirrors(tenancy.Organizations.update)
    async def update(self, organization_id: Ident, *, name: str) -> OrganizationRead:
        data = body(OrganizationUpdate, name=name)
        return await self._run(ORGANIZATIONS.update(organization_id, data))


class AsyncUsers(AsyncResource):
    """Async form of :class:`raylane.client.tenancy.Users`."""

    @mirrors(tenancy.Users.create)
    async def create(self, *, email: str, name: str = "", role: RoleName = "developer") -> UserRead:
        data = body(UserCreate, email=email, name=name, role=role)
        return await self._run(USERS.create(data, UserRead))

    @mirrors(tenancy.Users.list)
    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[UserRead]:
        return await self._run(USERS.list(limit=limit, cursor=cursor))

    @mirrors(tenancy.Users.iter)
    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[UserRead]:
        return self._pages(lambda cursor: USERS.list(limit=page_size, cursor=cursor))

    @mirrors(tenancy.Users.get)
    async def get(self, user_id: Ident) -> UserRead:
        return await self._run(USERS.get(user_id))

    @mirrors(tenancy.Users.update)
    async def update(
        self,
        user_id: Ident,
        *,
        name: str | Unset = UNSET,
        role: RoleName | Unset = UNSET,
        is_active: bool | Unset = UNSET,
    ) -> UserRead:
        data = body(UserUpdate, name=name, role=role, is_active=is_active)
        return await self._run(USERS.update(user_id, data))

    @mirrors(tenancy.Users.remove)
    async def remove(self, user_id: Ident) -> None:
        await self._run(USERS.delete(user_id))


class AsyncApiKeys(AsyncResource):
    """Async form of :class:`raylane.client.tenancy.ApiKeys`."""

    @mirrors(tenancy.ApiKeys.create)
    async def create(
        self,
        *,
        name: str,
        scopes: Sequence[str] = ("*",),
        expires_in_days: int | None = None,
        user_id: Ident | None = None,
    ) -> ApiKeyCreated:
        data = body(
            ApiKeyCreate,
            name=name,
            scopes=list(scopes),
            expires_in_days=expires_in_days,
            user_id=user_id,
        )
        return await self._run(API_KEYS.create(data, ApiKeyCreated))

    @mirrors(tenancy.ApiKeys.list)
    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ApiKeyRead]:
        return await self._run(API_KEYS.list(limit=limit, cursor=cursor))

    @mirrors(tenancy.ApiKeys.iter)
    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[ApiKeyRead]:
        return self._pages(lambda cursor: API_KEYS.list(limit=page_size, cursor=cursor))

    @mirrors(tenancy.ApiKeys.get)
    async def get(self, key_id: Ident) -> ApiKeyRead:
        return await self._run(API_KEYS.get(key_id))

    @mirrors(tenancy.ApiKeys.revoke)
    async def revoke(self, key_id: Ident) -> ApiKeyRead:
        return await self._run(API_KEYS.delete_returning(key_id))


class AsyncProjects(AsyncResource):
    """Async form of :class:`raylane.client.workspace.Projects`."""

    @mirrors(workspace.Projects.create)
    async def create(self, *, name: str, description: str | None = None) -> ProjectRead:
        data = body(ProjectCreate, name=name, description=description)
        return await self._run(PROJECTS.create(data, ProjectRead))

    @mirrors(workspace.Projects.list)
    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ProjectRead]:
        return await self._run(PROJECTS.list(limit=limit, cursor=cursor))

    @mirrors(workspace.Projects.iter)
    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[ProjectRead]:
        return self._pages(lambda cursor: PROJECTS.list(limit=page_size, cursor=cursor))

    @mirrors(workspace.Projects.get)
    async def get(self, project_id: Ident) -> ProjectRead:
        return await self._run(PROJECTS.get(project_id))

    @mirrors(workspace.Projects.update)
    async def update(
        self,
        project_id: Ident,
        *,
        name: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
    ) -> ProjectRead:
        data = body(ProjectUpdate, name=name, description=description)
        return await self._run(PROJECTS.update(project_id, data))

    @mirrors(workspace.Projects.delete)
    async def delete(self, project_id: Ident) -> None:
        await self._run(PROJECTS.delete(project_id))


class AsyncFeatureFlags(AsyncResource):
    """Async form of :class:`raylane.client.workspace.FeatureFlags`."""

    @mirrors(workspace.FeatureFlags.list)
    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[FeatureFlagRead]:
        return await self._run(FEATURE_FLAGS.list(limit=limit, cursor=cursor))

    @mirrors(workspace.FeatureFlags.iter)
    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[FeatureFlagRead]:
        return self._pages(lambda cursor: FEATURE_FLAGS.list(limit=page_size, cursor=cursor))

    @mirrors(workspace.FeatureFlags.get)
    async def get(self, key: str) -> FeatureFlagRead:
        return await self._run(FEATURE_FLAGS.get(key))

    @mirrors(workspace.FeatureFlags.set)
    async def set(
        self, key: str, *, enabled: bool, value: Any = None, description: str | None = None
    ) -> FeatureFlagRead:
        data = body(FeatureFlagUpsert, enabled=enabled, value=value, description=description)
        return await self._run(FEATURE_FLAGS.put(key, data))

    @mirrors(workspace.FeatureFlags.delete)
    async def delete(self, key: str) -> None:
        await self._run(FEATURE_FLAGS.delete(key))


class AsyncAudit(AsyncResource):
    """Async form of :class:`raylane.client.workspace.Audit`."""

    @mirrors(workspace.Audit.events)
    async def events(
        self,
        *,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        actor_id: Ident | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[AuditEventRead]:
        filters = workspace.audit_filters(action, target_type, target_id, actor_id, since, until)
        return await self._run(AUDIT_EVENTS.list(limit=limit, cursor=cursor, **filters))

    @mirrors(workspace.Audit.iter_events)
    def iter_events(
        self,
        *,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        actor_id: Ident | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[AuditEventRead]:
        filters = workspace.audit_filters(action, target_type, target_id, actor_id, since, until)
        return self._pages(
            lambda cursor: AUDIT_EVENTS.list(limit=page_size, cursor=cursor, **filters)
        )

    @mirrors(workspace.Audit.verify)
    async def verify(self) -> AuditVerifyRead:
        return await self._run(AUDIT_VERIFY)


class AsyncClient:
    """Non-blocking client for the Raylane API; arguments as for :class:`Client`.

    Raises:
        ConfigError: the profile file is invalid or names a missing profile, or the URL is
            malformed.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        profile: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        resolved = resolve(url=base_url, api_key=api_key, profile=profile)
        self.base_url = resolved.url.rstrip("/")
        self.profile = resolved.profile
        self.has_api_key = resolved.api_key is not None
        self._http = AsyncHttpClient(
            resolved.url, api_key=resolved.api_key, timeout=timeout, transport=transport
        )
        self.organizations = AsyncOrganizations(self._http)
        self.users = AsyncUsers(self._http)
        self.api_keys = AsyncApiKeys(self._http)
        self.projects = AsyncProjects(self._http)
        self.feature_flags = AsyncFeatureFlags(self._http)
        self.audit = AsyncAudit(self._http)
        self.collections = AsyncCollections(self._http)
        self.documents = AsyncDocuments(self._http)
        self.runs = AsyncRuns(self._http)
        self.guardrails = AsyncGuardrails(self._http)
        self.copilot = AsyncCopilot(self._http)

    @mirrors(sync.Client.me)
    async def me(self) -> MeRead:
        return await asend(self._http, ME)

    @mirrors(sync.Client.usage)
    async def usage(self, days: int = 7) -> UsageRead:
        return await asend(self._http, _copilot.usage(days))

    @mirrors(sync.Client.health)
    async def health(self) -> HealthRead:
        return await asend(self._http, HEALTH)

    async def aclose(self) -> None:
        """Close the connection pool; the client is unusable afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r}, profile={self.profile!r})"
