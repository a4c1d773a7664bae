"""API key use cases: authenticate a bearer token, create, list, revoke."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core import audit
from raylane.core.apikeys import tokens
from raylane.core.apikeys.models import ApiKey
from raylane.core.apikeys.repository import ApiKeyRepository
from raylane.core.config import get_settings
from raylane.core.db.paging import Page
from raylane.core.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from raylane.core.rbac import Actor, Permission, Role, effective_permissions, outranks
from raylane.core.tenancy.repository import MembershipRepository
from raylane.schemas.apikeys import ApiKeyCreate


async def authenticate(
    session: AsyncSession,
    token: str,
    *,
    secret: str,
    request_id: str | None = None,
    ip: str | None = None,
) -> Actor:
    """Resolve a bearer token to an Actor; the tenant comes from the key and nothing else.

    Raises:
        Unauthenticated: malformed, unknown, revoked or expired key, or an inactive membership.
    """
    prefix = tokens.parse_prefix(token)
    row = await ApiKeyRepository(session).lookup(prefix) if prefix else None
    if row is None or not tokens.matches(token, row.secret_hash, secret):
        raise Unauthenticated("invalid API key")
    now = datetime.now(UTC)
    if row.revoked_at is not None:
        raise Unauthenticated("API key revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("API key expired")
    if not row.membership_active:
        raise Unauthenticated("membership inactive")
    role = Role(row.role)
    return Actor(
        organization_id=row.organization_id,
        user_id=row.user_id,
        role=role,
        permissions=effective_permissions(
            role, list(row.scopes), platform_admin=row.is_platform_admin
        ),
        api_key_id=row.key_id,
        is_platform_admin=row.is_platform_admin,
        request_id=request_id,
        ip=ip,
        scopes=tuple(row.scopes),
        region=row.region,
    )


def _check_scopes(scopes: list[str]) -> list[str]:
    known = {p.value for p in Permission} | {"*"}
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise InvalidInput(f"unknown scopes: {', '.join(unknown)}")
    return sorted(set(scopes)) or ["*"]


async def issue(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    """Create a key row and return it with its token (the only time the token exists)."""
    prefix, token = tokens.new_token()
    key = ApiKey(
        organization_id=organization_id,
        user_id=user_id,
        name=name,
        prefix=prefix,
        secret_hash=tokens.hash_token(token, get_settings().secret_key.get_secret_value()),
        scopes=_check_scopes(scopes),
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return key, token


class ApiKeyService:
    async def create(
        self, session: AsyncSession, *, actor: Actor, data: ApiKeyCreate, default_ttl_days: int
    ) -> tuple[ApiKey, str]:
        """Create a key for the caller or, with apikey:admin, another member.

        Raises:
            NotFound: ``user_id`` is not a member of the caller's organization.
            PermissionDenied: creating a key for someone else without apikey:admin.
        """
        user_id = data.user_id or actor.user_id
        if user_id != actor.user_id:
            actor.require(Permission.APIKEY_ADMIN)
        membership = await MembershipRepository(session).get_by_user(user_id)
        if membership is None:
            raise NotFound("user", user_id)
        if not outranks(actor.role, Role(membership.role)):
            # A key acts as its user: minting one for a higher role would be an escalation.
            raise PermissionDenied(
                f"a {actor.role.value} cannot create keys for a {membership.role}"
            )
        if actor.scopes and "*" not in actor.scopes:
            # A scoped key may only mint keys within its own scopes, never wider ones.
            asked = set(_check_scopes(data.scopes))
            if "*" in asked or not asked <= set(actor.scopes):
                raise PermissionDenied("a scoped key cannot create a key with wider scopes")
        days = data.expires_in_days or default_ttl_days
        key, token = await issue(
            session,
            organization_id=actor.organization_id,
            user_id=user_id,
            name=data.name,
            scopes=data.scopes,
            expires_at=datetime.now(UTC) + timedelta(days=days),
        )
        await audit.record(
            session,
            actor=actor,
            action="api_key.create",
            target_type="api_key",
            target_id=key.id,
            after={"name": key.name, "user_id": str(user_id), "scopes": key.scopes},
        )
        return key, token

    async def get(self, session: AsyncSession, *, actor: Actor, key_id: uuid.UUID) -> ApiKey:
        key = await ApiKeyRepository(session).get(key_id)
        if key is None or not self._visible(actor, key):
            raise NotFound("api_key", key_id)
        return key

    async def page(
        self, session: AsyncSession, *, actor: Actor, limit: int, cursor: str | None
    ) -> Page[ApiKey]:
        only = None if Permission.APIKEY_ADMIN in actor.permissions else actor.user_id
        return await ApiKeyRepository(session).page(limit=limit, cursor=cursor, user_id=only)

    async def revoke(self, session: AsyncSession, *, actor: Actor, key_id: uuid.UUID) -> ApiKey:
        """Revoke a key; effective on the next request.

        Raises:
            NotFound: no such key in the caller's organization (or not visible to the caller).
            PermissionDenied: revoking another member's key without apikey:admin.
        """
        key = await self.get(session, actor=actor, key_id=key_id)
        if key.user_id != actor.user_id and Permission.APIKEY_ADMIN not in actor.permissions:
            raise PermissionDenied("cannot revoke another member's key")
        if key.revoked_at is None:
            key.revoked_at = await ApiKeyRepository(session).now()
            await session.flush()
            await audit.record(
                session,
                actor=actor,
                action="api_key.revoke",
                target_type="api_key",
                target_id=key.id,
            )
        return key

    @staticmethod
    def _visible(actor: Actor, key: ApiKey) -> bool:
        # Members see their own keys; key administrators see every key of the organization.
        return key.user_id == actor.user_id or Permission.APIKEY_ADMIN in actor.permissions


api_key_service = ApiKeyService()
