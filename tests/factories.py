"""Plain keyword-only factories shared by integration and e2e tests."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Tenant:
    organization_id: str
    owner_id: str
    token: str
    slug: str


class Api:
    """An httpx client with helpers; ``as_(token)`` returns request methods with that key."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    def as_(self, who: Tenant | str) -> _As:
        token = who.token if isinstance(who, Tenant) else who
        return _As(self.http, token)

    async def new_tenant(self, admin: Tenant, *, slug: str | None = None) -> Tenant:
        slug = slug or f"org-{secrets.token_hex(4)}"
        r = await self.as_(admin).post(
            "/api/v1/organizations",
            json={"name": slug.title(), "slug": slug, "owner_email": f"owner@{slug}.example.com"},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return Tenant(
            body["organization"]["id"], body["owner_user_id"], body["owner_api_key"], slug
        )

    async def member(self, tenant: Tenant, *, role: str) -> Tenant:
        """A new member of ``tenant`` with ``role`` and their own key."""
        email = f"{role}-{secrets.token_hex(3)}@{tenant.slug}.example.com"
        r = await self.as_(tenant).post("/api/v1/users", json={"email": email, "role": role})
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        r = await self.as_(tenant).post(
            "/api/v1/api-keys", json={"name": f"{role} key", "user_id": user_id}
        )
        assert r.status_code == 201, r.text
        return Tenant(tenant.organization_id, user_id, r.json()["secret"], tenant.slug)


class _As:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self._http, self._headers = http, {"Authorization": f"Bearer {token}"}

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {**self._headers, **kw.pop("headers", {})}
        return await self._http.request(method, url, headers=headers, **kw)

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", url, **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kw)


async def bootstrap_platform(settings: Any) -> Tenant:
    """The platform organization and its administrator, as ``raylane up`` creates them."""
    from raylane.core.bootstrap.service import ensure_platform_admin

    slug = f"platform-{uuid.uuid4().hex[:6]}"
    result = await ensure_platform_admin(settings, slug=slug, email=f"admin@{slug}.example.com")
    assert result is not None
    org_id, owner_id, token = result
    return Tenant(str(org_id), str(owner_id), token, slug)
