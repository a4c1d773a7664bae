"""Registered models (name unique per organization), their versions with lineage, and aliases
(one row per (model, alias): moving an alias updates that row)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class RegisteredModel(TenantScoped, Entity):
    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("organization_id", "name"),)


class ModelVersion(TenantScoped, Entity):
    __tablename__ = "model_versions"

    registered_model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    signature: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Lineage: the tracking run and its artifact; the dataset version the run trained on.
    experiment_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiment_runs.id", ondelete="SET NULL")
    )
    artifact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiment_artifacts.id", ondelete="SET NULL")
    )
    artifact_path: Mapped[str] = mapped_column(String(500))
    # Copied, not only referenced: the version stays loadable whatever happens to the run row.
    artifact_key: Mapped[str] = mapped_column(String(1000))
    dataset_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (UniqueConstraint("registered_model_id", "version"),)


class ModelAlias(TenantScoped, Entity):
    __tablename__ = "model_aliases"

    registered_model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE")
    )
    alias: Mapped[str] = mapped_column(String(64))
    model_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )

    __table_args__ = (UniqueConstraint("registered_model_id", "alias"),)
