"""Organizations are the tenants; users are people; memberships give a user a role in one org."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class Organization(Entity):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    region: Mapped[str] = mapped_column(String(64), default="local")
    # Keys of this organization's owners and admins carry platform powers. Set only by the
    # owner role at first start (the application role may not create such an organization).
    is_platform: Mapped[bool] = mapped_column(Boolean, default=False)


class User(TenantScoped, Entity):
    """A person's identity in one organization (the same email elsewhere is another identity)."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (UniqueConstraint("organization_id", "email"),)


class Membership(TenantScoped, Entity):
    __tablename__ = "memberships"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)
