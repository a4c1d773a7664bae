"""Runs: background work with a status, progress and logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from raylane.schemas.common import Output


class RunRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID | None
    kind: str
    target_id: uuid.UUID | None
    status: str
    attempts: int
    max_attempts: int
    ray_job_id: str | None
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None


class RunLogs(Output):
    run_id: uuid.UUID
    ray_job_id: str | None
    logs: str
