"""Guardrail policies: one per organization (project_id NULL) and one per project at most."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class GuardrailPolicyRow(TenantScoped, Entity):
    __tablename__ = "guardrail_policies"

    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE")
    )
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
