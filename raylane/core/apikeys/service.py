"""API key use cases: resolve a bearer token, create, list, revoke (the API caches: gate.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.config import get_settings
from raylane.core.apikeys import tokens
from raylane.core.apikeys.models import ApiKey
from raylane.core.apikeys.repository import ApiKeyRepository
from raylane.core.audit import audit_service
from raylane.core.rbac import (
    Actor,
    Permission,
    Role,
    effective_permissions,
    has_platform_reach,
    outranks,
)
from raylane.core.tenancy.repository import MembershipRepository
from raylane.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from raylane.infra.db.paging import Page
from raylane.schemas.api_keys import ApiKeyCreate


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What authentication knows of a key whose secret checked out: safe to cache briefly,
    because every use re-checks revocation, expiry and membership (``actor_for``)."""

    key_id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None
    role: str
    membership_active: bool
    is_platform_admin: bool
    region: str | None


async def find_key(session: AsyncSession, token: str, *, secret: str) -> KeyRecord:
    """The key ``token`` names, if its secret matches (whatever its state).

    Raises:
        Unauthenticated: malformed or unknown token, or a wrong secret.
    """
    prefix = tokens.parse_prefix(token)
    row = await ApiKeyRepository(session).lookup(prefix) if prefix else None
    if row is None or not tokens.matches(token, row.secret_hash, secret):
        raise Unauthenticated("invalid API key")
    return KeyRecord(
        key_id=row.key_id,
        organization_id=row.organization_id,
        user_id=row.user_id,
        scopes=tuple(row.scopes),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        role=row.role,
        membership_active=row.membership_active,
        is_platform_admin=has_platform_reach(Role(row.role), platform_org=row.platform_org),
        region=row.region,
    )


def actor_for(record: KeyRecord, *, request_id: str | None = None, ip: str | None = None) -> Actor:
    """The caller a key stands for now; the tenant comes from the key and nothing else.

    Raises:
        Unauthenticated: the key is revoked or expired, or its membership inactive.
    """
    if record.revoked_at is not None:
        raise Unauthenticated("API key revoked")
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        raise Unauthenticated("API key expired")
    if not record.membership_active:
        raise Unauthenticated("membership inactive")
    role = Role(record.role)
    return Actor(
        organization_id=record.organization_id,
        user_id=record.user_id,
        role=role,
        permissions=effective_permissions(
            role, list(record.scopes), platform_admin=record.is_platform_admin
        ),
        api_key_id=record.key_id,
        is_platform_admin=record.is_platform_admin,
        request_id=request_id,
        ip=ip,
        scopes=record.scopes,
        region=record.region,
    )


def _check_scopes(scopes: Sequence[str]) -> list[str]:
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
    scopes: Sequence[str],
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
    return await ApiKeyRepository(session).add(key), token


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
        await audit_service.log(
            session,
            actor,
            "api_key.create",
            target=key,
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
        # Members page their own keys; key administrators every key of the organization.
        return await ApiKeyRepository(session).page({"user_id": only}, limit=limit, cursor=cursor)

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
            repo = ApiKeyRepository(session)
            key.revoked_at = await repo.now()
            await repo.flush()
            await audit_service.log(session, actor, "api_key.revoke", target=key)
        return key

    @staticmethod
    def _visible(actor: Actor, key: ApiKey) -> bool:
        # Members see their own keys; key administrators see every key of the organization.
        return key.user_id == actor.user_id or Permission.APIKEY_ADMIN in actor.permissions


api_key_service = ApiKeyService()
