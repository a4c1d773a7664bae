"""The Run row. Kinds and statuses are strings so later workloads add kinds without migrations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.core.db.base import Entity, TenantScoped


class RunKind(StrEnum):
    INGEST = "ingest"


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for the reconciler to submit it (again, after a backoff)
    RUNNING = "running"  # submitted to Ray as a job
    CANCELLING = "cancelling"  # cancel asked; the reconciler stops the Ray job
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts used up: dead-lettered, with the last error
    CANCELLED = "cancelled"


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class Run(TenantScoped, Entity):
    __tablename__ = "runs"

    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(32), index=True)
    target_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(16), index=True, default=RunStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    ray_job_id: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None]
