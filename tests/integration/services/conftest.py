"""Services called directly on the real embedded Postgres, each transaction scoped to a tenant.

Tenants are provisioned through the tenancy service itself (a platform-scoped session, as
``raylane up`` does), so no HTTP stack is involved.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.rbac import ROLE_PERMISSIONS, Actor, Role
from raylane.core.tenancy.service import provision
from raylane.infra.db.session import Database
from raylane.infra.db.urls import app_url
from raylane.schemas.tenancy import OrganizationCreate

Scope = Callable[[Actor], AbstractAsyncContextManager[AsyncSession]]


@pytest.fixture(scope="module")
async def db(services: Any) -> AsyncIterator[Database]:
    database = Database(app_url(services), pool_size=2)
    yield database
    await database.dispose()


def owner(organization_id: uuid.UUID, user_id: uuid.UUID) -> Actor:
    return Actor(
        organization_id=organization_id,
        user_id=user_id,
        role=Role.OWNER,
        permissions=ROLE_PERMISSIONS[Role.OWNER],
    )


async def new_tenant(db: Database, services: Any) -> Actor:
    """A fresh organization, provisioned by the service; its owner as the actor."""
    slug = f"svc-{secrets.token_hex(4)}"
    async with db.session(platform=True) as session:
        org, owner_id, _ = await provision(
            session,
            actor=None,
            data=OrganizationCreate(name=slug, slug=slug, owner_email=f"owner@{slug}.example.com"),
            region=services.region,
            key_ttl_days=1,
        )
    return owner(org.id, owner_id)


@pytest.fixture
async def tenant(db: Database, services: Any) -> Actor:
    return await new_tenant(db, services)


@pytest.fixture
async def other_tenant(db: Database, services: Any) -> Actor:
    return await new_tenant(db, services)


@pytest.fixture
def scoped(db: Database) -> Scope:
    """``async with scoped(actor) as session``: one committed transaction in actor's tenant."""

    def open_(actor: Actor) -> AbstractAsyncContextManager[AsyncSession]:
        return db.session(organization_id=actor.organization_id)

    return open_
