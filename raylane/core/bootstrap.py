"""First start: the platform organization and its administrator, whose key is shown once."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, pool, select, text

from raylane.core.config import Settings
from raylane.core.db.session import Database
from raylane.core.db.urls import app_url, owner_url
from raylane.core.tenancy.models import Organization
from raylane.core.tenancy.service import provision
from raylane.schemas.tenancy import OrganizationCreate

PLATFORM_SLUG = "platform"
ADMIN_EMAIL = "admin@example.com"


async def ensure_platform_admin(
    settings: Settings, *, slug: str = PLATFORM_SLUG, email: str = ADMIN_EMAIL
) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """Create the platform organization and admin if absent.

    Returns ``(organization_id, user_id, api_key)`` when created, None when it already existed,
    so a second ``raylane up`` never mints another key.
    """
    db = Database(app_url(settings), pool_size=1)
    try:
        async with db.session(platform=True) as session:
            existing = await session.scalar(
                select(Organization.id).where(Organization.slug == slug)
            )
            if existing is not None:
                return None
            data = OrganizationCreate(
                name="Platform", slug=slug, owner_email=email, owner_name="Platform admin"
            )
            org, user_id, token = await provision(
                session,
                actor=None,
                data=data,
                region=settings.region,
                key_ttl_days=settings.api_key_ttl_days,
            )
    finally:
        await db.dispose()
    _grant_platform_admin(settings, user_id)
    return org.id, user_id, token


def _grant_platform_admin(settings: Settings, user_id: uuid.UUID) -> None:
    # The application role cannot touch this flag (column-level grants); only the owner can.
    engine = create_engine(owner_url(settings), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE users SET is_platform_admin = true WHERE id = :id"), {"id": user_id}
            )
    finally:
        engine.dispose()
