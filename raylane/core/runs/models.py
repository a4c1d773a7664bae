"""The Run row. Kinds and statuses are strings so later workloads add kinds without migrations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class RunKind(StrEnum):
    INGEST = "ingest"
    TRAIN = "train"
    PREDICT = "predict"
    AGENT_TEST = "agent_test"


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for the reconciler to submit it (again, after a backoff)
    RUNNING = "running"  # submitted to Ray as a job
    CANCELLING = "cancelling"  # cancel asked; the reconciler stops the Ray job
    SUCCEEDED = "succeeded"
    # Ended in error with no retry left to try: the reconciler never writes it (a failed attempt
    # is retried, then dead-lettered); kept for a workload that knows retrying cannot help.
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"  # every attempt failed: kept with the last error, replayable
    CANCELLED = "cancelled"


TERMINAL = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.DEAD_LETTERED, RunStatus.CANCELLED}
)
ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING})
# Runs that hold (or may hold) a live Ray job: what the per-organization running limit counts.
HOLDING_A_JOB = frozenset({RunStatus.RUNNING, RunStatus.CANCELLING})

# The state machine: every status a run may move to from each status. The repository's
# ``transition`` is the only writer of ``status`` and refuses any other edge; each write is
# conditional on the status the writer saw, so a concurrent move wins and this one is dropped.
# Terminal statuses have no way out: a cancelled run never becomes succeeded or running.
EDGES: dict[RunStatus, frozenset[RunStatus]] = {
    # submitted; deferred (Ray unreachable: stays queued); refused with attempts left or not;
    # cancelled before any job exists
    RunStatus.QUEUED: frozenset(
        {
            RunStatus.RUNNING,
            RunStatus.QUEUED,
            RunStatus.FAILED,
            RunStatus.DEAD_LETTERED,
            RunStatus.CANCELLED,
        }
    ),
    # the job finished, or failed (retry or dead-letter), or a cancel was asked
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.SUCCEEDED,
            RunStatus.QUEUED,
            RunStatus.FAILED,
            RunStatus.DEAD_LETTERED,
            RunStatus.CANCELLING,
        }
    ),
    # only the reconciler ends it, once Ray has stopped the job
    RunStatus.CANCELLING: frozenset({RunStatus.CANCELLED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    # A replay is a new run (``replay_of``): a dead letter itself never moves again.
    RunStatus.DEAD_LETTERED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
# What a cancel asks for, by the status it finds: no job yet ends at once; a job must be stopped.
CANCEL_TO: dict[RunStatus, RunStatus] = {
    RunStatus.QUEUED: RunStatus.CANCELLED,
    RunStatus.RUNNING: RunStatus.CANCELLING,
}


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
    # The dead-lettered run this one replays (a fresh attempt chain); at most one replay each.
    replay_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), unique=True
    )
    # The reverse link, set on the dead letter when it is replayed.
    replayed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL")
    )


class IdempotencyKey(TenantScoped, Entity):
    """The first answer to a run-creating request sent with an ``Idempotency-Key``.

    Unique per (organization, route, key): the insert that claims a key is what serialises
    concurrent requests carrying it; the losers read the winner's answer once it commits.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("organization_id", "scope", "key"),)

    scope: Mapped[str] = mapped_column(String(300))  # "POST /api/v1/.../ingest" (the route)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path, query, body
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
