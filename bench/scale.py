"""Scale from zero and back on the local multi-node simulation (Ray autoscaler, fake provider).

A run whose workload group (default ``embeddings``) is at zero nodes is submitted through the
Job Submission API; its task asks for ``task_resources(kind)``, so the autoscaler must add a node
of that group before the task can start. Measured:

- ``scale_up_s``: submission → the task running (the task reads the clock itself);
- baseline: the same run submitted again while the node is still up (job start-up alone);
- ``scale_down_s``: the last task finishing → the group back at zero nodes.

Goal: ``scale_up_s`` <= 20 s; ``scale_down_s`` <= idle timeout + 15 s. Last line:
``scale_up_s=<x>``.

    .venv/bin/python bench/scale.py [--kind embeddings] [--idle-timeout 15] [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raylane.testing.simulation import SimulatedCluster, simulated_cluster


def timed_run(sim: SimulatedCluster, kind: str, seconds: float) -> tuple[float, float]:
    """Submit one probe run; (seconds from submission to its task running, task finish time)."""
    submitted = time.time()
    job = sim.submit_probe(kind, seconds=seconds)
    status = sim.wait_job(job, timeout=300)
    if status != "SUCCEEDED":
        sys.exit(f"run {job} ended {status}:\n{sim.job_client().get_job_logs(job)[-3000:]}")
    (run,) = sim.probe_runs(job)
    return run.started - submitted, run.finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", default="embeddings", help="workload group to scale")
    parser.add_argument("--idle-timeout", type=float, default=15.0, help="seconds")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long the task runs")
    args = parser.parse_args()

    with simulated_cluster(idle_timeout_s=args.idle_timeout) as sim:
        before = sim.nodes_by_type()
        if before[args.kind] != 0:
            sys.exit(f"{args.kind} is not at zero: {before}")
        scale_up_s, _ = timed_run(sim, args.kind, args.seconds)
        peak = sim.nodes_by_type()[args.kind]
        warm_s, last_finished = timed_run(sim, args.kind, args.seconds)
        sim.wait_for(
            lambda: sim.nodes_by_type()[args.kind] == 0,
            timeout=args.idle_timeout + 120,
            interval=0.1,
            what=f"{args.kind} back at zero",
        )
        scale_down_s = time.time() - last_finished

    print(f"workload group: {args.kind} (nodes after the first run: {peak})")
    print(f"idle_timeout_s={args.idle_timeout:.2f}")
    print(f"first task, group at zero (submit -> task running): {scale_up_s:.2f} s (goal <= 20)")
    print(f"first task, group already up (baseline):            {warm_s:.2f} s")
    print(f"added by scaling up: {scale_up_s - warm_s:.2f} s")
    print(
        f"last task done -> group at zero: {scale_down_s:.2f} s "
        f"(goal <= {args.idle_timeout + 15:.0f})"
    )
    print(f"scale_down_s={scale_down_s:.2f}")
    print(f"scale_up_s={scale_up_s:.2f}")


if __name__ == "__main__":
    main()
