"""Copilot configurations (versioned, content-addressed bundles) and endpoints.

An endpoint serves a ``stable`` version and at most one ``canary`` version of either a
registered model (refs are model version ids) or a copilot configuration (refs are copilot
configuration version ids); ``canary_weight`` percent of requests go to the canary. Only the
endpoint service (and the rollout orchestrator through it) moves these columns.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class EndpointKind(StrEnum):
    MODEL = "model"
    COPILOT = "copilot"


class CopilotConfig(TenantScoped, Entity):
    __tablename__ = "copilot_configs"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("project_id", "name"),)


class CopilotConfigVersion(TenantScoped, Entity):
    """A copilot configuration as it was: system prompt, answer mode, retrieval settings (top
    k, collections), generation settings and a guardrail policy override (``spec``)."""

    __tablename__ = "copilot_config_versions"

    config_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("copilot_configs.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("config_id", "version"),
        UniqueConstraint("config_id", "digest"),
    )


class Endpoint(TenantScoped, Entity):
    __tablename__ = "endpoints"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # EndpointKind
    # model endpoints: the registered model's name (versions must belong to it);
    # copilot endpoints: the copilot configuration's name.
    subject: Mapped[str] = mapped_column(String(200))
    stable_ref: Mapped[uuid.UUID] = mapped_column()  # a model / config version id
    stable_label: Mapped[str] = mapped_column(String(64))  # "3" (its version number)
    canary_ref: Mapped[uuid.UUID | None] = mapped_column()
    canary_label: Mapped[str | None] = mapped_column(String(64))
    canary_weight: Mapped[int] = mapped_column(Integer, default=0)  # percent, 0-100
    # Requests carrying this header (or ``key`` in the body) stick to one version.
    sticky_header: Mapped[str | None] = mapped_column(String(100))
    # Bumped on every change of the split: routers cache by it.
    generation: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("project_id", "name"),)
