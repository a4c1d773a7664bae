"""Scale from zero to a job's first useful step, on the local multi-node simulation.

The workload (default ``training``) is one whose worker group is ``min_replicas: 0`` in the
shipped ``configs/workloads.yaml`` (training and agent-tests are; the others keep a node up), so
its first job must wait for the Ray autoscaler to add a node. The autoscaler runs with its
production loop interval: ``AUTOSCALER_UPDATE_INTERVAL_S=5``, Ray's default, which the KubeRay
autoscaler container keeps (the simulation's tests shorten it to 1 s), and the idle timeout of
the rendered production values (300 s, so no node leaves during a run).

Each run starts a fresh simulated cluster (every group at zero), submits the probe job through
the Job Submission API as the platform submits runs, and its task asks for
``task_resources(kind)``. The task's work is a training job's first useful step: import torch and
sentence-transformers, load the built-in embedding model, and take one forward/backward/update
step on a batch of 32 texts. Measured per run:

- ``scale_up_s``: submission -> the first useful step done (the task reads the clock itself);
- ``warm_s``: the same job again while the node is still up (job start, worker start, model
  load and step without scaling), so ``scale_up_s - warm_s`` is what scaling from zero adds.

Several runs (``--runs``, default 3): median, p90 and min-max are printed. Goal: ``scale_up_s``
(median) <= 20 s. The simulation leaves out pod scheduling, image pull and node provisioning:
see docs/scaling.md for the figure to expect on KubeRay. Last line:
``scale_up_s=<median> scale_up_p90_s=<p90>``.

    .venv/bin/python bench/scale.py [--kind training] [--runs 3]     (--quick: 1 run)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import load_average, median_spread
from raylane.infra.workloads import load_workloads
from raylane.testing.simulation import (
    PRODUCTION_UPDATE_INTERVAL_S,
    SimulatedCluster,
    simulated_cluster,
)

# cluster/values: the production idle timeout (idleTimeoutSeconds in the rendered RayCluster).
PRODUCTION_IDLE_TIMEOUT_S = 300.0


def timed_run(sim: SimulatedCluster, kind: str) -> tuple[float, float]:
    """Submit one probe job; (submission -> task started, submission -> first useful step)."""
    submitted = time.time()
    job = sim.submit_probe(kind, seconds=0, work="train-step")
    status = sim.wait_job(job, timeout=600)
    if status != "SUCCEEDED":
        sys.exit(f"run {job} ended {status}:\n{sim.job_client().get_job_logs(job)[-3000:]}")
    runs = sim.probe_runs(job)
    if len(runs) != 1 or runs[0].useful is None:
        sys.exit(f"run {job}: no useful step reported:\n{sim.job_client().get_job_logs(job)}")
    return runs[0].started - submitted, runs[0].useful - submitted


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kind", default="training", help="a workload group with min 0")
    parser.add_argument("--runs", type=int, default=3, help="cold runs, each on a fresh cluster")
    parser.add_argument(
        "--update-interval",
        type=int,
        default=PRODUCTION_UPDATE_INTERVAL_S,
        help="autoscaler loop interval, s (default: Ray's and KubeRay's production value)",
    )
    parser.add_argument("--quick", action="store_true", help="one run")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    workload = load_workloads().workloads[args.kind]
    if workload.scaling.min_replicas != 0:
        sys.exit(f"{args.kind} keeps {workload.scaling.min_replicas} node(s): pick a min-0 group")
    print(f"start: {load_average()}", flush=True)
    cold: list[tuple[float, float]] = []
    warm: list[tuple[float, float]] = []
    for i in range(args.runs):
        with simulated_cluster(
            idle_timeout_s=PRODUCTION_IDLE_TIMEOUT_S, update_interval_s=args.update_interval
        ) as sim:
            before = sim.nodes_by_type()
            if before[args.kind] != 0:
                sys.exit(f"{args.kind} is not at zero: {before}")
            cold.append(timed_run(sim, args.kind))
            nodes = sim.nodes_by_type()[args.kind]
            warm.append(timed_run(sim, args.kind))
        print(
            f"run {i + 1}: from zero: task started {cold[-1][0]:.2f} s, useful step"
            f" {cold[-1][1]:.2f} s ({args.kind} nodes after: {nodes}); node up: task started"
            f" {warm[-1][0]:.2f} s, useful step {warm[-1][1]:.2f} s",
            flush=True,
        )
    print(f"end: {load_average()}")
    up = [c[1] for c in cold]
    print(
        f"\nworkload group {args.kind} (min 0 in configs/workloads.yaml), autoscaler interval"
        f" {args.update_interval} s, idle timeout {PRODUCTION_IDLE_TIMEOUT_S:.0f} s, {args.runs}"
        " run(s), each on a fresh cluster; median (min-max)"
    )
    print(f"submit -> task started, from zero:     {median_spread([c[0] for c in cold], '.2f')} s")
    print(f"submit -> first useful step, from zero: {median_spread(up, '.2f')} s (goal <= 20)")
    print(f"submit -> task started, node up:       {median_spread([w[0] for w in warm], '.2f')} s")
    print(f"submit -> first useful step, node up:  {median_spread([w[1] for w in warm], '.2f')} s")
    added = [c[1] - w[1] for c, w in zip(cold, warm, strict=True)]
    print(f"added by scaling from zero:            {median_spread(added, '.2f')} s")
    print(f"scale_up_s={statistics.median(up):.2f} scale_up_p90_s={p90(up):.2f}")


if __name__ == "__main__":
    main()
