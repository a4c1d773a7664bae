"""Autoscaling per workload on a simulated multi-node cluster (Ray's autoscaler, fake provider).

One cluster for the module: a CPU-less head and one node type per workload of
``configs/workloads.yaml``, all at zero. Runs are submitted through the Job Submission API like
the platform submits them; their tasks ask for ``task_resources(kind)``, so the autoscaler must
grow exactly that workload's type, and shrink it back after the idle timeout. Serve replicas
ask for their workload's resource the same way, and Serve's own autoscaler sizes the deployment.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from raylane.infra.workloads import serve_options
from raylane.testing.simulation import SimulatedCluster, simulated_cluster

pytestmark = pytest.mark.e2e

IDLE_TIMEOUT_S = 15.0
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
# Generous deadlines: a node is a raylet starting on a busy 2-core machine.
UP_TIMEOUT_S = 120.0
DOWN_TIMEOUT_S = IDLE_TIMEOUT_S + 60.0

Counts = dict[str, int]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedCluster]:
    with simulated_cluster(idle_timeout_s=IDLE_TIMEOUT_S, max_workers_per_type=2) as cluster:
        yield cluster


def watch(
    sim: SimulatedCluster, until: Callable[[Counts], bool], timeout: float, what: str
) -> list[Counts]:
    """Sample the nodes per type until ``until`` holds; every sample, for checks over time."""
    samples: list[Counts] = []

    def done() -> bool:
        samples.append(sim.nodes_by_type())
        return until(samples[-1])

    sim.wait_for(done, timeout, interval=0.5, what=what)
    return samples


def grown(*samples: Counts) -> set[str]:
    """The workload types that had a node in any of the samples."""
    return {kind for counts in samples for kind, n in counts.items() if n}


def all_zero(counts: Counts) -> bool:
    return not any(counts.values())


def test_embeddings_run_scales_only_embeddings_and_back_to_zero(sim: SimulatedCluster) -> None:
    watch(sim, all_zero, DOWN_TIMEOUT_S, "every type at zero before the run")

    job = sim.submit_probe("embeddings", seconds=5)
    samples = watch(sim, lambda c: c["embeddings"] >= 1, UP_TIMEOUT_S, "embeddings scaled up")
    samples += watch(
        sim, lambda _: sim.job_status(job) in TERMINAL, UP_TIMEOUT_S, "embeddings run finished"
    )
    assert sim.job_status(job) == "SUCCEEDED", sim.job_client().get_job_logs(job)[-2000:]
    (run,) = sim.probe_runs(job)
    assert run.kind == "embeddings"

    samples += watch(sim, lambda c: c["embeddings"] == 0, DOWN_TIMEOUT_S, "embeddings at zero")
    back_at_zero = time.time()

    # Only the embeddings type ever grew: training and the others stayed at zero throughout.
    assert grown(*samples) == {"embeddings"}
    # The node went away only once it had been idle for the idle timeout, not when the run ended
    # (slack for the autoscaler's once-a-second view of node usage).
    assert back_at_zero - run.finished >= IDLE_TIMEOUT_S - 3


def test_concurrent_runs_scale_their_own_types_only(sim: SimulatedCluster) -> None:
    watch(sim, all_zero, DOWN_TIMEOUT_S, "every type at zero before the runs")

    jobs = {kind: sim.submit_probe(kind, seconds=5) for kind in ("embeddings", "training")}
    samples = watch(
        sim,
        lambda _: all(sim.job_status(job) in TERMINAL for job in jobs.values()),
        2 * UP_TIMEOUT_S,
        "both runs finished",
    )

    for kind, job in jobs.items():
        assert sim.job_status(job) == "SUCCEEDED", sim.job_client().get_job_logs(job)[-2000:]
        (run,) = sim.probe_runs(job)
        assert run.kind == kind
    # Each run grew its own type; api, agent-tests, workflows and copilot-inference stayed at 0.
    assert grown(*samples) == {"embeddings", "training"}
    watch(sim, all_zero, DOWN_TIMEOUT_S, "both types back at zero")


# --- Serve autoscaling ----------------------------------------------------------------------

APP = "sim-embedder"
MIN_REPLICAS, MAX_REPLICAS = 1, 3
CLIENTS = 8  # ongoing requests; at a target of 2 per replica that asks for 4 replicas
REQUEST_S = 0.5
MAX_REQUESTS = 800  # bounded load: at most ~50 s at 8 clients


def replica_counts() -> tuple[int, int]:
    """(running replicas, replicas in any live state) of the Embedder deployment."""
    from ray import serve

    app = serve.status().applications.get(APP)
    if app is None or "Embedder" not in app.deployments:
        return 0, 0
    states = app.deployments["Embedder"].replica_states
    running = states.get("RUNNING", 0)
    live = sum(n for state, n in states.items() if state != "STOPPING")
    return running, live


def embedder_app():  # type: ignore[no-untyped-def]
    """A light stand-in for the Embedder with the real placement and autoscaling policy.

    MiniLM in three replicas would starve two cores; the policy is what this test is about:
    ``serve_options("Embedder")`` with tighter bounds and short delays so the test stays short.
    """
    from ray import serve

    @serve.deployment(name="Embedder")
    class SlowEmbedder:
        async def embed(self, text: str) -> list[float]:
            await asyncio.sleep(REQUEST_S)
            return [float(len(text))]

    options = serve_options("Embedder")
    autoscaling = options["autoscaling_config"] | {
        "min_replicas": MIN_REPLICAS,
        "max_replicas": MAX_REPLICAS,
        "target_ongoing_requests": 2,
        "upscale_delay_s": 1,
        "downscale_delay_s": 5,
        "look_back_period_s": 3,
        "metrics_interval_s": 0.5,
    }
    return SlowEmbedder.options(**(options | {"autoscaling_config": autoscaling})).bind()


def test_serve_embedder_scales_with_load_within_bounds(sim: SimulatedCluster) -> None:
    from ray import serve

    serve.start(proxy_location="Disabled")
    try:
        handle = serve.run(embedder_app(), name=APP, route_prefix=None).options(method_name="embed")
        assert replica_counts() == (MIN_REPLICAS, MIN_REPLICAS)

        stop = threading.Event()
        budget = iter(range(MAX_REQUESTS))
        answered: list[int] = []

        def client() -> None:
            while not stop.is_set() and next(budget, None) is not None:
                answered.append(len(handle.remote("hello").result(timeout_s=60)))

        peak_running = peak_live = 0
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(client) for _ in range(CLIENTS)]

            def scaled_to_max() -> bool:
                nonlocal peak_running, peak_live
                running, live = replica_counts()
                peak_running, peak_live = max(peak_running, running), max(peak_live, live)
                return running >= MAX_REPLICAS or all(f.done() for f in futures)

            try:
                sim.wait_for(scaled_to_max, UP_TIMEOUT_S, interval=0.5, what="replicas up")
                # Hold the load a little longer: demand (4 replicas) stays above the bound.
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    scaled_to_max()
                    time.sleep(0.5)
            finally:
                stop.set()
            for future in futures:
                future.result()

        assert answered and set(answered) == {1}
        assert peak_running > MIN_REPLICAS
        assert peak_live <= MAX_REPLICAS

        sim.wait_for(
            lambda: replica_counts() == (MIN_REPLICAS, MIN_REPLICAS),
            DOWN_TIMEOUT_S,
            interval=0.5,
            what="Embedder back at min replicas",
        )
        # The replicas asked for the embeddings resource: only that type grew.
        assert grown(sim.nodes_by_type()) == {"embeddings"}
    finally:
        serve.shutdown()
