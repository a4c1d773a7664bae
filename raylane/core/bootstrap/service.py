"""First start: the platform organization and its owner, whose key is shown once.

Platform powers come with keys of the platform organization (its owners and admins), never
with an email address: ``ADMIN_EMAIL`` names the owner identity *inside* that organization only.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import create_engine, pool, text

from raylane.config import Settings
from raylane.core.tenancy.repository import OrganizationRepository
from raylane.core.tenancy.service import provision
from raylane.infra.db.session import Database
from raylane.infra.db.urls import app_url, owner_url
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
            existing = await OrganizationRepository(session).by_slug(slug)
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
    _mark_platform_organization(settings, org.id)
    return org.id, user_id, token


def _mark_platform_organization(settings: Settings, organization_id: uuid.UUID) -> None:
    # The application role may not create a platform organization (the insert policy refuses
    # is_platform) nor change the flag (column grants): only the owner role sets it, once.
    engine = create_engine(owner_url(settings), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE organizations SET is_platform = true WHERE id = :id"),
                {"id": organization_id},
            )
    finally:
        engine.dispose()


DEMO_PROJECT = "demo"
DEMO_COLLECTION = "raylane-docs"


def sample_documents() -> list[tuple[str, bytes]]:
    """Raylane's own docs, shipped inside the package for the first-start demo."""
    folder = Path(__file__).resolve().parents[2] / "data" / "docs"
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.md"))]


async def ensure_demo(
    settings: Settings, *, organization_id: uuid.UUID, user_id: uuid.UUID
) -> uuid.UUID | None:
    """On first start: a ``demo`` project whose collection holds Raylane's docs, and an ingest
    run for it (the reconciler submits it). Returns the run id, or None if the demo exists."""
    from raylane.core.collections.service import Upload, collection_service, document_service
    from raylane.core.projects.service import project_service
    from raylane.core.rbac import ROLE_PERMISSIONS, Actor, Role
    from raylane.infra.storage import store_from_settings
    from raylane.schemas.collections import CollectionCreate
    from raylane.schemas.projects import ProjectCreate

    actor = Actor(
        organization_id=organization_id,
        user_id=user_id,
        role=Role.OWNER,
        permissions=ROLE_PERMISSIONS[Role.OWNER],
    )
    db = Database(app_url(settings), pool_size=1)
    try:
        async with db.session(organization_id=organization_id) as session:
            project = await project_service.create(
                session,
                actor=actor,
                data=ProjectCreate(name=DEMO_PROJECT, description="First-start demo"),
            )
            collection = await collection_service.create(
                session,
                actor=actor,
                project_id=project.id,
                data=CollectionCreate(name=DEMO_COLLECTION),
                settings=settings,
            )
            await document_service.upload(
                session,
                actor=actor,
                collection_id=collection.id,
                uploads=[
                    Upload(name=n, data=d, mime="text/markdown") for n, d in sample_documents()
                ],
                store=store_from_settings(settings),
            )
            run = await collection_service.start_ingest(
                session,
                actor=actor,
                collection_id=collection.id,
                max_attempts=settings.runs.max_attempts,
            )
            return run.id
    finally:
        await db.dispose()
