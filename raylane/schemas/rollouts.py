"""Rollouts: a canary walked through weight steps, analysed at every step, promoted or rolled back.

A policy says how::

    steps: [5, 25, 50, 100]      # canary weight per step (taken ascending; 100 added if missing)
    interval_s: 60               # each analysis looks at this long a window of traffic
    max_failed_analyses: 2       # failed analyses (over the whole rollout) before a rollback
    checks:
      max_error_rate: 0.05             # the canary's error rate, absolute
      max_error_rate_increase: 1.0     # canary <= stable * (1 + x) + 0.01 (0 vs 0 passes)
      max_p95_ms: 800                  # the canary's p95 latency, absolute
      max_p95_ratio: 1.5               # canary p95 <= stable p95 * x
      max_block_rate: 0.2              # guardrail blocks / requests
      min_requests: 10                 # fewer canary requests in a window: inconclusive
    suite: {name: smoke, min_score: 0.8}   # an agent-test suite run against the canary
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from raylane.schemas.agent_tests import Name as SuiteName
from raylane.schemas.common import JSON_NUMBER, Float, Input, Int, Output

RolloutStatusName = Literal["running", "paused", "promoted", "rolled_back", "aborted"]
Ratio = Annotated[float, Field(ge=0, le=1), JSON_NUMBER]
Positive = Annotated[float, Field(gt=0, le=1_000_000), JSON_NUMBER]


class SuiteGate(Input):
    """An agent-test suite run against the canary at every step; its weighted score must reach
    ``min_score``."""

    name: SuiteName
    version: Annotated[int, Field(ge=1), JSON_NUMBER] | None = None  # default: the latest
    min_score: Float = Field(ge=0, le=1)
    concurrency: Int = Field(default=8, ge=1, le=64)


class RolloutChecks(Input):
    """What a canary must show in each analysis window. A bound left out is not checked."""

    max_error_rate: Ratio | None = 0.05
    # Relative to the stable version: the canary may be at most (1 + x) times the stable's
    # error rate, plus a floor of 0.01 so a canary with 0 errors against a stable with 0 passes.
    max_error_rate_increase: Annotated[float, Field(ge=0, le=1000), JSON_NUMBER] | None = 1.0
    max_p95_ms: Positive | None = None
    max_p95_ratio: Positive | None = None
    max_block_rate: Ratio | None = None
    min_requests: Int = Field(default=10, ge=1, le=1_000_000)


class RolloutPolicy(Input):
    # The canary's weight at each step. Every list of distinct percents is a valid one, so the
    # API refuses exactly what its document does: the steps are taken in ascending order, and a
    # last step of 100 (the canary takes all traffic before it is promoted) is added if missing.
    steps: list[Annotated[int, Field(ge=1, le=100), JSON_NUMBER]] = Field(
        default_factory=lambda: [5, 25, 50, 100],
        min_length=1,
        max_length=20,
        json_schema_extra={"uniqueItems": True},
    )
    interval_s: Int = Field(default=60, ge=1, le=86_400)
    max_failed_analyses: Int = Field(default=2, ge=1, le=100)
    checks: RolloutChecks = Field(default_factory=RolloutChecks)
    suite: SuiteGate | None = None

    @field_validator("steps")
    @classmethod
    def _ascending_to_100(cls, steps: list[int]) -> list[int]:
        if len(set(steps)) != len(steps):
            raise ValueError("steps must be distinct")
        ordered = sorted(steps)
        return ordered if ordered[-1] == 100 else [*ordered, 100]


class RolloutCreate(Input):
    """Start a rollout of ``canary`` (a version number of the endpoint's model or copilot
    configuration) on an endpoint."""

    canary: Int = Field(ge=1, le=2_000_000_000)
    policy: RolloutPolicy = Field(default_factory=RolloutPolicy)


class RolloutEvent(Output):
    """One transition: ``event`` is started, analysis, step, paused, resumed, promoted,
    rolled_back or aborted; analyses carry their ``verdict``, ``reasons`` and ``figures``."""

    event: str
    at: datetime
    step: int
    weight: int | None = None
    verdict: Literal["pass", "fail", "inconclusive"] | None = None
    reasons: list[str] = Field(default_factory=list)
    figures: dict[str, Any] = Field(default_factory=dict)
    actor: str | None = None  # "system" (the orchestrator) or a user id


class RolloutRead(Output):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    project_id: uuid.UUID
    status: RolloutStatusName
    canary_label: str
    stable_label: str
    policy: RolloutPolicy
    step: int  # index into policy.steps
    steps: int  # how many steps there are
    weight: int  # the canary's weight at this step
    step_started_at: datetime | None
    failed_analyses: int
    test_run_id: uuid.UUID | None
    history: list[RolloutEvent]
    reason: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, rollout: Any) -> RolloutRead:
        policy = RolloutPolicy.model_validate(rollout.policy)
        step = min(int(rollout.step), len(policy.steps) - 1)
        return cls(
            id=rollout.id,
            endpoint_id=rollout.endpoint_id,
            project_id=rollout.project_id,
            status=rollout.status,
            canary_label=rollout.canary_label,
            stable_label=rollout.stable_label,
            policy=policy,
            step=int(rollout.step),
            steps=len(policy.steps),
            weight={"rolled_back": 0, "aborted": 0, "promoted": 100}.get(
                rollout.status, policy.steps[step]
            ),
            step_started_at=rollout.step_started_at,
            failed_analyses=rollout.failed_analyses,
            test_run_id=rollout.test_run_id,
            history=[RolloutEvent.model_validate(e) for e in rollout.history or []],
            reason=rollout.reason,
            created_by=rollout.created_by,
            created_at=rollout.created_at,
            updated_at=rollout.updated_at,
            finished_at=rollout.finished_at,
        )
