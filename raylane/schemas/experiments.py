"""Experiments, tracking runs, metric points and artifacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from raylane.schemas.common import JSON_NUMBER, NUL_FREE, DateTime, Input, Name, Output, Text

# Metric, param and tag keys: what a file name or a dashboard label holds, nothing that needs
# quoting in a path or the filter language but spaces (quoted there with backquotes).
KEY_PATTERN = r"^[A-Za-z0-9_\-./ ]+$"
Key = Annotated[str, Field(min_length=1, max_length=250, pattern=KEY_PATTERN)]
ParamValue = Annotated[str, Field(max_length=6000, pattern=NUL_FREE)]
TagValue = Annotated[str, Field(max_length=5000, pattern=NUL_FREE)]
RunStatusName = Literal["running", "finished", "failed", "killed"]
EndStatus = Literal["finished", "failed", "killed"]
MAX_STEP = 2**53 - 1  # exact in a JSON number (a double)

# The run filter language (see ``raylane.core.experiments.filters``), written once as a pattern
# that the document states and the API applies: ``metric.<key> <op> <number>``,
# ``param|tag.<key> = | != '<text>'``, ``status = | != '<text>'``, joined by `` and ``.
# Numbers are bounded so every one that matches is finite; a key with other characters is
# written in backquotes. No lookaround: every regex engine reads it the same.
FILTER_KEY = r"(?:`[^`\u0000]+`|[A-Za-z0-9_/-]+)"
FILTER_NUMBER = r"[-+]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][-+]?[0-9]{1,2})?"
FILTER_TEXT = r"""(?:'(?:[^'\\\u0000]|\\[^\u0000])*'|"(?:[^"\\\u0000]|\\[^\u0000])*")"""
_FILTER_CLAUSE = (
    rf"(?:metric\.{FILTER_KEY} *(?:>=|<=|!=|>|<|=) *{FILTER_NUMBER}"
    rf"|(?:param|tag)\.{FILTER_KEY} *!?= *{FILTER_TEXT}"
    rf"|status *!?= *{FILTER_TEXT})"
)
FILTER_PATTERN = rf"^ *{_FILTER_CLAUSE}(?: +and +{_FILTER_CLAUSE})* *$"
# An artifact's path in its run: ``/``-separated parts of letters, digits, ``_ - .``, each not
# starting with a dot (no ``.``/``..``) and at most 200 characters (a safe object name anywhere).
ARTIFACT_PATH = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199})*$"


class ExperimentCreate(Input):
    name: Name = Field(max_length=200)
    description: Text | None = Field(default=None, max_length=10_000)
    tags: dict[Key, TagValue] = Field(default_factory=dict, max_length=100)


class ExperimentRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str | None
    tags: dict[str, str]
    created_at: datetime


class ExperimentRunCreate(Input):
    """A tracking run; ``run_id`` links a platform run (a training job), ``parent_id`` a parent
    tracking run (a Tune search for its trials)."""

    name: Name | None = Field(default=None, max_length=200)
    params: dict[Key, ParamValue] = Field(default_factory=dict, max_length=100)
    tags: dict[Key, TagValue] = Field(default_factory=dict, max_length=100)
    run_id: uuid.UUID | None = None
    dataset_version_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None


class ExperimentRunRead(Output):
    id: uuid.UUID
    experiment_id: uuid.UUID
    name: str
    status: RunStatusName
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float] = Field(description="each metric's latest value (highest step)")
    run_id: uuid.UUID | None
    dataset_version_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    started_at: datetime
    ended_at: datetime | None

    @field_validator("metrics", mode="before")
    @classmethod
    def _latest(cls, value: Any) -> Any:
        # Stored as key → {value, step, timestamp}; the wire carries the value only.
        if isinstance(value, dict):
            return {k: v["value"] if isinstance(v, dict) else v for k, v in value.items()}
        return value


class MetricIn(Input):
    key: Key
    value: Annotated[float, JSON_NUMBER]
    step: Annotated[int, Field(ge=0, le=MAX_STEP), JSON_NUMBER] = 0
    timestamp: DateTime | None = None


class LogBatch(Input):
    """Metric points, params (write-once) and tags in one request."""

    metrics: list[MetricIn] = Field(default_factory=list, max_length=1000)
    params: dict[Key, ParamValue] = Field(default_factory=dict, max_length=100)
    tags: dict[Key, TagValue] = Field(default_factory=dict, max_length=100)


class RunEnd(Input):
    status: EndStatus = "finished"


class MetricPointRead(Output):
    step: int
    value: float
    timestamp: datetime


class MetricHistory(Output):
    experiment_run_id: uuid.UUID
    key: str
    points: list[MetricPointRead]


class RunCompare(Input):
    experiment_run_ids: list[uuid.UUID] = Field(min_length=2, max_length=20)


class RunComparison(Output):
    """Runs side by side: ``params_diff`` holds the params whose values differ (param → run id
    → value, null where a run lacks it); ``metrics`` every point (metric → run id → points)."""

    runs: list[ExperimentRunRead]
    params_diff: dict[str, dict[str, str | None]]
    metrics: dict[str, dict[str, list[MetricPointRead]]]


class ArtifactRead(Output):
    id: uuid.UUID
    experiment_run_id: uuid.UUID
    path: str
    size: int
    content_hash: str
    content_type: str
    created_at: datetime


class ArtifactUploaded(Output):
    """``created`` is false when the same content was stored under the path before."""

    artifact: ArtifactRead
    created: bool
