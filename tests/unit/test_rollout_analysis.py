"""The rollout analysis, rule by rule, the policy's validation, and ``raylane rollouts watch``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from raylane.cli import context
from raylane.cli.main import app
from raylane.core.endpoints.stats import VersionStats
from raylane.core.rollouts.analysis import analyze
from raylane.schemas.rollouts import RolloutCreate, RolloutPolicy
from tests.unit.fake_api import API_KEY, BASE_URL, FakeApi, isolate_env


def stats(
    requests: int, errors: int = 0, p95: float | None = 50.0, blocked: int = 0
) -> VersionStats:
    return VersionStats(
        requests=requests,
        errors=errors,
        blocked=blocked,
        tokens=0,
        p95_ms=p95 if requests else None,
    )


def policy(**checks: object) -> RolloutPolicy:
    return RolloutPolicy.model_validate({"checks": checks})


class TestVerdicts:
    def test_a_healthy_canary_passes_with_its_figures(self) -> None:
        result = analyze(policy(), stats(200, 2), stats(20, 0), None)
        assert result.verdict == "pass"
        assert result.reasons == []
        assert result.figures["canary"]["requests"] == 20
        assert result.figures["stable"]["error_rate"] == 0.01

    def test_zero_errors_against_zero_errors_passes(self) -> None:
        assert analyze(policy(), stats(100), stats(100), None).verdict == "pass"

    def test_half_errors_fails_both_error_bounds(self) -> None:
        result = analyze(policy(), stats(100), stats(40, 20), None)
        assert result.verdict == "fail"
        assert len(result.reasons) == 2
        assert "0.500 above 0.050" in result.reasons[0]

    def test_relative_bound_is_against_the_stable(self) -> None:
        p = policy(max_error_rate=None, max_error_rate_increase=1.0)
        # stable 10% -> bound 0.21: 20% passes, 25% fails
        assert analyze(p, stats(100, 10), stats(100, 20), None).verdict == "pass"
        failed = analyze(p, stats(100, 10), stats(100, 25), None)
        assert failed.verdict == "fail"
        assert failed.figures["error_rate_bound"] == 0.21

    def test_relative_checks_skip_without_stable_traffic(self) -> None:
        # At 100% the stable has no traffic: only the absolute bounds apply.
        p = policy(max_error_rate=0.05, max_error_rate_increase=0.0, max_p95_ratio=1.0)
        assert analyze(p, stats(0), stats(100, 3, p95=900), None).verdict == "pass"

    def test_too_few_canary_requests_is_inconclusive(self) -> None:
        result = analyze(policy(min_requests=10), stats(100), stats(9, 9), None)
        assert result.verdict == "inconclusive"
        assert "9 canary requests" in result.reasons[0]

    def test_p95_absolute_and_ratio(self) -> None:
        p = policy(max_p95_ms=500)
        assert analyze(p, stats(100), stats(100, p95=600), None).verdict == "fail"
        p = policy(max_p95_ratio=1.5)
        assert analyze(p, stats(100, p95=100), stats(100, p95=140), None).verdict == "pass"
        assert analyze(p, stats(100, p95=100), stats(100, p95=160), None).verdict == "fail"

    def test_block_rate(self) -> None:
        p = policy(max_block_rate=0.1)
        assert analyze(p, stats(100), stats(100, blocked=20), None).verdict == "fail"
        assert analyze(p, stats(100), stats(100, blocked=5), None).verdict == "pass"


class TestSuiteGate:
    def gated(self) -> RolloutPolicy:
        return RolloutPolicy.model_validate({"suite": {"name": "smoke", "min_score": 0.8}})

    def test_score_below_the_minimum_fails_even_without_traffic(self) -> None:
        result = analyze(self.gated(), stats(0), stats(0), 0.5)
        assert result.verdict == "fail"
        assert "suite score 0.500 below the minimum 0.800" in result.reasons
        assert result.figures["suite"] == {"score": 0.5, "min_score": 0.8}

    def test_a_missing_score_fails(self) -> None:
        assert analyze(self.gated(), stats(100), stats(100), None).verdict == "fail"

    def test_a_good_score_with_good_traffic_passes(self) -> None:
        assert analyze(self.gated(), stats(100), stats(100), 0.9).verdict == "pass"


class TestPolicy:
    def test_defaults(self) -> None:
        p = RolloutPolicy()
        assert p.steps == [5, 25, 50, 100]
        assert p.interval_s == 60
        assert p.max_failed_analyses == 2

    @pytest.mark.parametrize(
        "body",
        [
            {"steps": [5, 5, 100]},
            {"steps": [101]},
            {"steps": [0, 100]},
            {"steps": []},
            {"interval_s": 0},
            {"interval_s": True},
            {"max_failed_analyses": 0},
            {"checks": {"max_error_rate": 2}},
            {"checks": {"unknown": 1}},
            {"suite": {"name": "s"}},
            {"suite": {"name": "s", "min_score": 1.5}},
        ],
    )
    def test_bad_policies_are_refused(self, body: dict[str, object]) -> None:
        with pytest.raises(ValidationError):
            RolloutPolicy.model_validate(body)

    def test_steps_are_taken_ascending_and_end_at_100(self) -> None:
        # Any list of distinct percents is valid (the document says no more), normalised.
        assert RolloutPolicy(steps=[50, 10]).steps == [10, 50, 100]
        assert RolloutPolicy(steps=[100, 20]).steps == [20, 100]
        assert RolloutPolicy(steps=[100]).steps == [100]

    def test_create_needs_a_canary_version(self) -> None:
        with pytest.raises(ValidationError):
            RolloutCreate.model_validate({"policy": {}})
        assert RolloutCreate.model_validate({"canary": 2}).policy.steps[-1] == 100


# --- raylane rollouts watch, against a fake API ------------------------------------------------

RID = "0193a4c2-0000-7000-8000-000000000001"
EID = "0193a4c2-0000-7000-8000-000000000002"
CONN = ["--url", BASE_URL, "--api-key", API_KEY]


def rollout_json(status: str, history: list[dict[str, Any]], step: int = 0) -> dict[str, Any]:
    now = "2026-12-06T08:00:00Z"
    return {
        "id": RID,
        "endpoint_id": EID,
        "project_id": EID,
        "status": status,
        "canary_label": "2",
        "stable_label": "1",
        "policy": RolloutPolicy().model_dump(mode="json"),
        "step": step,
        "steps": 4,
        "weight": [5, 25, 50, 100][step],
        "step_started_at": now,
        "failed_analyses": 0,
        "test_run_id": None,
        "history": history,
        "reason": None,
        "created_by": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }


def entry(name: str, step: int, **fields: Any) -> dict[str, Any]:
    return {"event": name, "at": f"2026-12-06T08:0{step}:00Z", "step": step, **fields}


FIGURES = {
    "canary": {"requests": 20, "error_rate": 0.5, "p95_ms": 40.0},
    "stable": {"requests": 80, "error_rate": 0.0, "p95_ms": 35.0},
}


class TestWatch:
    @pytest.fixture(autouse=True)
    def _env(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        isolate_env(monkeypatch, tmp_path)

    @pytest.fixture
    def api(self) -> Iterator[FakeApi]:
        fake = FakeApi()
        context.set_transport_factory(fake.transport)
        yield fake
        context.set_transport_factory(None)

    def watch(self) -> Any:
        args = [*CONN, "rollouts", "watch", RID, "--poll", "0"]
        return CliRunner().invoke(app, args, env={"COLUMNS": "200"})

    def test_each_event_once_as_it_comes_and_exit_0_when_promoted(self, api: FakeApi) -> None:
        path = f"/api/v1/rollouts/{RID}"
        first = [entry("started", 0, weight=5), entry("step", 0, weight=5)]
        second = [
            *first,
            entry("analysis", 0, verdict="pass", figures=FIGURES, weight=5),
            entry("step", 1, weight=25),
        ]
        done = [*second, entry("promoted", 1, weight=100)]
        api.on("GET", path, body=rollout_json("running", first))  # the command's first look
        api.on("GET", path, body=rollout_json("running", first))
        api.on("GET", path, body=rollout_json("running", second, step=1))
        api.on("GET", path, body=rollout_json("promoted", done, step=1))
        result = self.watch()
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert [line.split(" ", 1)[1] for line in lines] == [
            "step 1/4 started weight 5%",
            "step 1/4 step weight 5%",
            "step 1/4 analysis PASS · canary 20 req, 50.0% errors, p95 40 ms · stable 80 req, "
            "0.0% errors, p95 35 ms",
            "step 2/4 step weight 25%",
            "step 2/4 promoted weight 100%",
        ]

    def test_exit_1_when_rolled_back_with_the_reasons(self, api: FakeApi) -> None:
        path = f"/api/v1/rollouts/{RID}"
        back = [
            entry("started", 0, weight=5),
            entry("rolled_back", 0, weight=0, reasons=["canary error rate 0.500 above 0.050"]),
        ]
        api.on("GET", path, body=rollout_json("rolled_back", back))
        result = self.watch()
        assert result.exit_code == 1
        assert "rolled_back weight 0% — canary error rate 0.500 above 0.050" in result.stdout
