"""Runs: background work with a status, progress and logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Literal

from raylane.schemas.common import Output

# Core's RunStatus, repeated so clients validate a filter without importing the server (a test
# ties the two). ``dead_lettered``: every attempt failed; ``POST /runs/{id}/replay`` retries it.
RunStatusName = Literal[
    "queued", "running", "cancelling", "succeeded", "failed", "dead_lettered", "cancelled"
]
TERMINAL_STATUSES: Final = frozenset({"succeeded", "failed", "dead_lettered", "cancelled"})


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
    replay_of: uuid.UUID | None = None  # the dead-lettered run this one replays
    replayed_by: uuid.UUID | None = None  # the run that replays this dead letter


class RunLogs(Output):
    """The latest attempt's logs from ``offset`` on; ask again from ``next_offset`` for what
    was written since. A new attempt (another ``ray_job_id``) has logs of its own, from 0."""

    run_id: uuid.UUID
    ray_job_id: str | None
    logs: str
    status: str | None = None  # the run's status, read before the logs: terminal means complete
    offset: int = 0
    next_offset: int = 0
