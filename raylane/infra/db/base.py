"""ORM base and the mixins every table uses."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from raylane.infra.ids import uuid7


class Base(DeclarativeBase):
    """Declarative base of every Raylane table."""


class Entity(Base):
    """A table with a UUIDv7 primary key and created/updated timestamps."""

    __abstract__ = True
    # Fetch server-set timestamps with RETURNING, so no lazy load happens outside the session.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class TenantScoped:
    """A row owned by one organization; row-level security keys on ``organization_id``."""

    @declared_attr
    def organization_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
        )
