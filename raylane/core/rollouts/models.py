"""A rollout: an endpoint's canary walked through weight steps by the orchestrator.

Its state is this row, written after every transition (conditional on the status and step the
writer saw), so a new orchestrator resumes exactly where a killed one was: never repeating or
skipping a step. ``history`` keeps every transition with the figures that caused it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class RolloutStatus(StrEnum):
    RUNNING = "running"  # the orchestrator advances it
    PAUSED = "paused"  # held at its step, weight unchanged, until resumed
    PROMOTED = "promoted"  # the canary became stable (terminal)
    ROLLED_BACK = "rolled_back"  # analyses failed: canary weight 0, stable untouched (terminal)
    ABORTED = "aborted"  # stopped by a person: canary weight 0 (terminal)


ACTIVE = frozenset({RolloutStatus.RUNNING, RolloutStatus.PAUSED})
TERMINAL = frozenset({RolloutStatus.PROMOTED, RolloutStatus.ROLLED_BACK, RolloutStatus.ABORTED})


class Rollout(TenantScoped, Entity):
    __tablename__ = "rollouts"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True, default=RolloutStatus.RUNNING)
    canary_ref: Mapped[uuid.UUID] = mapped_column()
    canary_label: Mapped[str] = mapped_column(String(64))
    stable_ref: Mapped[uuid.UUID] = mapped_column()  # the stable version when it started
    stable_label: Mapped[str] = mapped_column(String(64))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)  # schemas.rollouts.RolloutPolicy
    step: Mapped[int] = mapped_column(Integer, default=0)  # index into policy.steps
    step_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_analyses: Mapped[int] = mapped_column(Integer, default=0)
    # The agent-test run gating the current step (None: no suite, or not started yet).
    test_run_id: Mapped[uuid.UUID | None] = mapped_column()
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    reason: Mapped[str | None] = mapped_column(Text)  # why it ended (rolled back, aborted)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
