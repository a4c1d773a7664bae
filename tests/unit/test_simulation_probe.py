"""The simulated cluster's knobs the scale benchmark relies on: the autoscaler's loop interval
and the probe's first useful step, read back from the job's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylane.testing import simulation


def _env(interval: int) -> dict[str, str]:
    ports = {"autoscaler_metrics": 1, "dashboard_metrics": 2}
    return simulation._cluster_env(Path("/tmp/x"), Path("/tmp/x/token"), ports, interval)


def test_the_autoscaler_interval_is_the_callers() -> None:
    assert _env(simulation.PRODUCTION_UPDATE_INTERVAL_S)["AUTOSCALER_UPDATE_INTERVAL_S"] == "5"
    assert _env(simulation.TEST_UPDATE_INTERVAL_S)["AUTOSCALER_UPDATE_INTERVAL_S"] == "1"


class _Logs:
    def __init__(self, text: str) -> None:
        self.text = text

    def get_job_logs(self, _job: str) -> str:
        return self.text


def _cluster(logs: str) -> simulation.SimulatedCluster:
    sim = simulation.SimulatedCluster(
        spec=simulation.load_workloads(),
        temp_dir=Path("/tmp/x"),
        gcs_address="127.0.0.1:1",
        dashboard_url="http://127.0.0.1:2",
        idle_timeout_s=15,
        env={},
    )
    sim._job_client = _Logs(logs)
    return sim


def test_probe_runs_read_the_useful_step_when_reported() -> None:
    logs = (
        "noise\n"
        f"{simulation.PROBE_MARKER} kind=training started=10.5 useful=14.25 finished=15.0\n"
        f"{simulation.PROBE_MARKER} kind=embeddings started=1.0 finished=2.0\n"
    )
    runs = _cluster(logs).probe_runs("job")
    assert runs == [
        simulation.ProbeRun("training", 10.5, 15.0, 14.25),
        simulation.ProbeRun("embeddings", 1.0, 2.0, None),
    ]


def test_an_unknown_probe_work_is_refused_before_submission() -> None:
    with pytest.raises(ValueError, match="unknown probe work"):
        _cluster("").submit_probe("training", work="nap")
