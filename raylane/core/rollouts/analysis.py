"""One analysis of a canary against its stable version: pure, so every rule is unit-tested.

The verdict is ``inconclusive`` when the canary saw fewer than ``min_requests`` requests in the
window (too little evidence to judge either way); otherwise ``fail`` when any bound is broken
(every broken bound is named in ``reasons``), else ``pass``. Relative checks (error-rate
increase, p95 ratio) need the stable version to have traffic in the window; at the last step
(the canary at 100%) it has none, so they are skipped and the absolute bounds still apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from raylane.core.endpoints.stats import VersionStats
from raylane.schemas.rollouts import RolloutPolicy

Verdict = Literal["pass", "fail", "inconclusive"]
# Added to the relative error bound so that 0 errors vs 0 errors (or 1 stray error on a small
# canary) is not a failure: canary <= stable * (1 + increase) + ERROR_RATE_FLOOR.
ERROR_RATE_FLOOR = 0.01


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def _figures(stats: VersionStats) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "error_rate": round(stats.error_rate, 4),
        "blocked": stats.blocked,
        "block_rate": round(stats.block_rate, 4),
        "p95_ms": None if stats.p95_ms is None else round(stats.p95_ms, 1),
        "tokens": stats.tokens,
    }


def analyze(
    policy: RolloutPolicy,
    stable: VersionStats,
    canary: VersionStats,
    suite_score: float | None,
) -> Analysis:
    """Judge the canary's window against the policy's checks and the stable's window.

    Args:
        policy: the rollout's policy (checks, suite gate).
        stable: the stable version's figures over the same window.
        canary: the canary's figures over the window.
        suite_score: the weighted score of the step's agent-test run against the canary; None
            when the policy has no suite. A policy with a suite and no score fails (the caller
            passes a score once the run succeeded, and treats a failed run itself).

    Returns:
        The verdict, every reason for a failure (or for being inconclusive), and the figures
        it was decided on (both versions' windows, the bounds, the suite score).
    """
    checks = policy.checks
    figures: dict[str, Any] = {"stable": _figures(stable), "canary": _figures(canary)}
    reasons: list[str] = []

    if policy.suite is not None:
        figures["suite"] = {"score": suite_score, "min_score": policy.suite.min_score}
        if suite_score is None:
            reasons.append("the agent-test suite has no score")
        elif suite_score < policy.suite.min_score:
            reasons.append(
                f"suite score {suite_score:.3f} below the minimum {policy.suite.min_score:.3f}"
            )

    # Traffic figures are judged only on enough canary requests; a failed suite still fails.
    if canary.requests < checks.min_requests:
        if reasons:
            return Analysis("fail", reasons, figures)
        return Analysis(
            "inconclusive",
            [f"{canary.requests} canary requests, fewer than the {checks.min_requests} needed"],
            figures,
        )

    has_baseline = stable.requests >= checks.min_requests
    if checks.max_error_rate is not None and canary.error_rate > checks.max_error_rate:
        reasons.append(
            f"canary error rate {canary.error_rate:.3f} above {checks.max_error_rate:.3f}"
        )
    if checks.max_error_rate_increase is not None and has_baseline:
        bound = stable.error_rate * (1 + checks.max_error_rate_increase) + ERROR_RATE_FLOOR
        figures["error_rate_bound"] = round(bound, 4)
        if canary.error_rate > bound:
            reasons.append(
                f"canary error rate {canary.error_rate:.3f} above {bound:.3f} "
                f"(stable {stable.error_rate:.3f})"
            )
    if (
        checks.max_p95_ms is not None
        and canary.p95_ms is not None
        and canary.p95_ms > checks.max_p95_ms
    ):
        reasons.append(f"canary p95 {canary.p95_ms:.0f} ms above {checks.max_p95_ms:.0f} ms")
    if (
        checks.max_p95_ratio is not None
        and has_baseline
        and canary.p95_ms is not None
        and stable.p95_ms is not None
    ):
        bound_ms = stable.p95_ms * checks.max_p95_ratio
        figures["p95_bound_ms"] = round(bound_ms, 1)
        if canary.p95_ms > bound_ms:
            reasons.append(
                f"canary p95 {canary.p95_ms:.0f} ms above {bound_ms:.0f} ms "
                f"(stable {stable.p95_ms:.0f} ms x {checks.max_p95_ratio})"
            )
    if checks.max_block_rate is not None and canary.block_rate > checks.max_block_rate:
        reasons.append(
            f"canary guardrail block rate {canary.block_rate:.3f} above {checks.max_block_rate:.3f}"
        )
    return Analysis("fail" if reasons else "pass", reasons, figures)
