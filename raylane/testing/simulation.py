"""A local multi-node autoscaling Ray cluster built from ``configs/workloads.yaml``.

Tests and benchmarks use it to watch the Ray autoscaler grow and shrink the worker group of
each workload, the way it does on KubeRay, on one machine:

    with simulated_cluster(idle_timeout_s=15) as sim:
        sim.submit_probe("embeddings", seconds=5)
        sim.wait_for(lambda: sim.nodes_by_type()["embeddings"] >= 1, timeout=60)

The head advertises no CPU and no workload resource, so every job task and Serve replica that
asks for its workload's resource (:func:`~raylane.infra.workloads.task_resources`) makes
the autoscaler add a node of that workload's type. Nodes are extra raylets on this machine
(Ray's fake multi-node provider): tiny in CPU, but advertising the workload units and memory
that ``workloads.yaml`` gives a pod, so tasks ask for exactly what they ask for on Kubernetes.

Everything runs under its own temp dir, token and ports, so it can run beside other Ray
clusters on the same machine; shutting down stops only the processes it started.

``python -m raylane.testing.simulation --kind embeddings --seconds 5`` is the probe job:
it runs one task with the workload's resources and prints when the task started and finished.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider

from raylane.infra.workloads import (
    Workloads,
    load_workloads,
    parse_quantity,
    task_resources,
)

T = TypeVar("T")

HEAD_NODE_TYPE = "ray.head.default"
PROVIDER_MODULE = f"{__name__}.SimulatedNodeProvider"
PROBE_MARKER = "raylane-probe"
# Ray's minimum object store; every simulated node is a real raylet on this machine.
_NODE_OBJECT_STORE_BYTES = 80 * 2**20
_HEAD_OBJECT_STORE_BYTES = 200 * 2**20
_PROBE_LINE = re.compile(
    rf"^{PROBE_MARKER} kind=(?P<kind>\S+) "
    r"started=(?P<started>[\d.]+) (?:useful=(?P<useful>[\d.]+) )?finished=(?P<finished>[\d.]+)",
    re.M,
)
# Ray's own default for the autoscaler's loop (``AUTOSCALER_UPDATE_INTERVAL_S``), which the
# KubeRay autoscaler container keeps unless its env sets another: how often it looks at demand.
PRODUCTION_UPDATE_INTERVAL_S = 5
# Tests shorten the loop so a scale-up shows within seconds; benches pass the production value.
TEST_UPDATE_INTERVAL_S = 1


class SimulatedNodeProvider(FakeMultiNodeProvider):
    """Ray's fake multi-node provider, but nodes advertise the ``memory`` of their type.

    The stock provider hands every resource of a node type to Ray as a custom resource, and
    ``memory`` may not be one; a type without ``memory`` never fits a task that asks for
    memory, so the autoscaler would never add it. Here ``memory`` becomes the node's memory.
    """

    def _create_node_with_resources_and_labels(
        self,
        node_config: dict[str, Any],
        tags: dict[str, str],
        count: int,
        resources: dict[str, float],
        labels: dict[str, str],
    ) -> None:
        import ray
        import ray._private.ray_constants as ray_constants
        from ray.autoscaler.tags import (
            NODE_KIND_WORKER,
            STATUS_UP_TO_DATE,
            TAG_RAY_NODE_KIND,
            TAG_RAY_NODE_NAME,
            TAG_RAY_NODE_STATUS,
            TAG_RAY_USER_NODE_TYPE,
        )

        resources = copy.deepcopy(resources)
        with self.lock:
            node_type = tags[TAG_RAY_USER_NODE_TYPE]
            node_id = self._next_hex_node_id()  # type: ignore[no-untyped-call]
            memory = resources.pop("memory", None)
            params = ray._private.parameter.RayParams(
                min_worker_port=0,
                max_worker_port=0,
                dashboard_port=None,
                dashboard_agent_listen_port=0,
                num_cpus=int(resources.pop("CPU", 0)),
                num_gpus=int(resources.pop("GPU", 0)),
                memory=int(memory) if memory is not None else None,
                object_store_memory=resources.pop("object_store_memory", None),
                resources=resources,
                labels=labels,
                redis_address=self._gcs_address,
                gcs_address=self._gcs_address,
                env_vars={
                    "RAY_OVERRIDE_NODE_ID_FOR_TESTING": node_id,
                    "RAY_CLOUD_INSTANCE_ID": node_id,
                    "RAY_NODE_TYPE_NAME": node_type,
                    ray_constants.RESOURCES_ENVIRONMENT_VARIABLE: json.dumps(resources),
                    ray_constants.LABELS_ENVIRONMENT_VARIABLE: json.dumps(labels),
                },
            )
            node = ray._private.node.Node(
                params, head=False, shutdown_at_exit=False, spawn_reaper=False
            )
            self._nodes[node_id] = {
                "tags": {
                    TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
                    TAG_RAY_USER_NODE_TYPE: node_type,
                    TAG_RAY_NODE_NAME: node_id,
                    TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
                    **tags,
                },
                "node": node,  # type: ignore[dict-item]
            }


def node_types(spec: Workloads, *, max_workers: int = 2) -> dict[str, dict[str, Any]]:
    """One autoscaler node type per workload (named after it), from zero to ``max_workers``.

    A node has just enough CPU for one task of its workload (this machine is small), the
    workload units and memory of a real pod, and no GPU.
    """
    types: dict[str, dict[str, Any]] = {}
    for kind, workload in spec.workloads.items():
        task = task_resources(kind, workloads=spec)
        memory = max(parse_quantity(workload.node.memory), task.get("memory", 0))
        types[kind] = {
            "resources": {
                "CPU": max(1, math.ceil(task["num_cpus"])),
                workload.resource: workload.node.slots,
                "memory": memory,
                "object_store_memory": _NODE_OBJECT_STORE_BYTES,
            },
            "node_config": {},
            "min_workers": 0,
            "max_workers": max_workers,
        }
    return types


def autoscaler_config(
    spec: Workloads,
    *,
    gcs_address: str,
    idle_timeout_minutes: float,
    max_workers_per_type: int = 2,
) -> dict[str, Any]:
    """The autoscaler config for a simulated cluster: a CPU-less head plus one type per workload.

    Ray's fake multi-node provider (here :class:`SimulatedNodeProvider`) starts nodes as local
    raylets: no SSH, no updaters, no setup or start commands, node ids standing in for IPs.
    """
    types = node_types(spec, max_workers=max_workers_per_type)
    types[HEAD_NODE_TYPE] = {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0}
    return {
        "cluster_name": "raylane-sim",
        "max_workers": max_workers_per_type * len(spec.workloads),
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": idle_timeout_minutes,
        "docker": {},
        "provider": {
            "type": "external",
            "module": PROVIDER_MODULE,
            "gcs_address": gcs_address,
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {},
        "available_node_types": types,
        "head_node_type": HEAD_NODE_TYPE,
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProbeRun:
    """When the probe job's task ran, as the task itself saw the clock.

    ``useful`` is when its first useful step was done (``work="train-step"``: the model loaded
    and one training step taken), None for a sleep probe.
    """

    kind: str
    started: float
    finished: float
    useful: float | None = None


@dataclass
class SimulatedCluster:
    """A running simulated cluster: addresses, the environment to reach it, and helpers."""

    spec: Workloads
    temp_dir: Path
    gcs_address: str
    dashboard_url: str
    idle_timeout_s: float
    env: dict[str, str]
    _job_client: Any = field(default=None, repr=False)

    def resource_kinds(self) -> dict[str, str]:
        """Workload resource name → workload kind."""
        return {w.resource: kind for kind, w in self.spec.workloads.items()}

    def nodes_by_type(self) -> dict[str, int]:
        """Alive nodes per workload kind (every kind present, 0 when none), from ``ray.nodes()``."""
        import ray

        counts = dict.fromkeys(self.spec.workloads, 0)
        by_resource = self.resource_kinds()
        for node in ray.nodes():  # type: ignore[no-untyped-call]
            if not node.get("Alive"):
                continue
            for resource, kind in by_resource.items():
                if resource in node.get("Resources", {}):
                    counts[kind] += 1
        return counts

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float,
        *,
        interval: float = 0.25,
        what: str = "condition",
    ) -> T:
        """Poll ``predicate`` until it returns something truthy, else ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{what} not reached within {timeout:.0f} s; nodes: {self.nodes_by_type()}"
                )
            time.sleep(interval)

    def job_client(self) -> Any:
        """A Job Submission API client for this cluster (token from :attr:`env`)."""
        if self._job_client is None:
            from ray.job_submission import JobSubmissionClient

            self._job_client = JobSubmissionClient(self.dashboard_url)
        return self._job_client

    def submit_probe(
        self, kind: str, *, seconds: float = 5.0, tasks: int = 1, work: str = "sleep"
    ) -> str:
        """Submit the probe job for ``kind`` the way the platform submits runs; its job id.

        ``work`` is what each task does: ``sleep`` (``seconds``), or ``train-step`` (load the
        built-in embedding model and take one training step on a batch, then sleep).
        """
        task_resources(kind, workloads=self.spec)  # unknown kinds fail here, not in the job
        if work not in WORKS:
            raise ValueError(f"unknown probe work {work!r}")
        entrypoint = (
            f"{sys.executable} -m {__name__} --kind {kind} --seconds {seconds} --tasks {tasks}"
            f" --work {work}"
        )
        submission_id: str = self.job_client().submit_job(
            entrypoint=entrypoint,
            # Like the platform's runs: the driver only orchestrates, its tasks ask for resources.
            entrypoint_num_cpus=0,
            metadata={"raylane_kind": kind, "raylane_probe": "1"},
            runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}},
        )
        return submission_id

    def job_status(self, submission_id: str) -> str:
        return str(self.job_client().get_job_status(submission_id).value)

    def wait_job(self, submission_id: str, timeout: float) -> str:
        """Wait for a terminal status (SUCCEEDED, FAILED or STOPPED) and return it."""
        terminal = {"SUCCEEDED", "FAILED", "STOPPED"}
        status = self.wait_for(
            lambda: (s := self.job_status(submission_id)) in terminal and s,
            timeout,
            interval=0.5,
            what=f"job {submission_id} finished",
        )
        return str(status)

    def probe_runs(self, submission_id: str) -> list[ProbeRun]:
        """The probe tasks' start and finish times, read from the job's logs."""
        logs = self.job_client().get_job_logs(submission_id)
        return [
            ProbeRun(
                m["kind"],
                float(m["started"]),
                float(m["finished"]),
                float(m["useful"]) if m["useful"] else None,
            )
            for m in _PROBE_LINE.finditer(logs)
        ]


def _ray_bin() -> str:
    return str(Path(sys.executable).parent / "ray")


def _our_processes(marker: str, gcs_port: int) -> list[Any]:
    """Processes of this cluster: those naming its temp dir or GCS port, and their descendants."""
    import psutil

    def ours(part: str) -> bool:
        return marker in part or (part.startswith("--address=") and part.endswith(f":{gcs_port}"))

    found: dict[int, Any] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(ours(part) for part in proc.info["cmdline"] or []):
                # Workers rename themselves ("ray::IDLE"); they are children of a raylet.
                for p in [proc, *proc.children(recursive=True)]:
                    found[p.pid] = p
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return list(found.values())


def _stop_processes(marker: str, gcs_port: int, timeout: float = 3.0) -> None:
    import psutil

    # A short grace only: the autoscaler and the GCS can sit on SIGTERM for many seconds, and
    # the autoscaler's dead nodes stay zombies until it goes. Twice: the autoscaler may have
    # launched a node while the first sweep ran.
    for _ in range(2):
        procs = _our_processes(marker, gcs_port)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)


@contextlib.contextmanager
def _process_env(env: dict[str, str]) -> Iterator[None]:
    """Point this process's Ray client at the cluster's token; restore everything after."""
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

    keys = {k for k in os.environ if k.startswith("RAY_AUTH")} | {
        k for k in env if k.startswith("RAY_AUTH")
    }
    saved = {k: os.environ.get(k) for k in keys}

    def reload() -> None:
        # Ray caches the auth mode and token per process: re-read them from the environment.
        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()

    for key in keys:
        os.environ.pop(key, None)
    os.environ.update({k: v for k, v in env.items() if k.startswith("RAY_AUTH")})
    reload()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reload()


def _start_head(
    config_file: Path, temp_dir: Path, ports: dict[str, int], env: dict[str, str]
) -> None:
    cmd = [
        _ray_bin(),
        "start",
        "--head",
        f"--autoscaling-config={config_file}",
        "--num-cpus=0",
        f"--object-store-memory={_HEAD_OBJECT_STORE_BYTES}",
        f"--port={ports['gcs']}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={ports['dashboard']}",
        f"--dashboard-agent-listen-port={ports['agent_http']}",
        f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
        f"--ray-client-server-port={ports['client']}",
        f"--metrics-export-port={ports['metrics']}",
        f"--runtime-env-agent-port={ports['runtime_env']}",
        "--min-worker-port=0",
        "--max-worker-port=0",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    log = temp_dir / "ray-start.log"
    with log.open("w") as out:
        rc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise RuntimeError(f"ray start failed ({rc}):\n{log.read_text(errors='replace')[-4000:]}")


def _cluster_env(
    temp_dir: Path, token_file: Path, ports: dict[str, int], update_interval_s: int
) -> dict[str, str]:
    # Nothing of another cluster's Ray settings (address, token) may leak into this one.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return env | {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_file),
        # The fake multi-node provider refuses to run without it.
        "RAY_FAKE_CLUSTER": "1",
        "AUTOSCALER_UPDATE_INTERVAL_S": str(update_interval_s),
        "AUTOSCALER_METRIC_PORT": str(ports["autoscaler_metrics"]),
        "DASHBOARD_METRIC_PORT": str(ports["dashboard_metrics"]),
        "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
        "HF_HUB_OFFLINE": "1",
    }


@contextlib.contextmanager
def simulated_cluster(
    *,
    idle_timeout_s: float = 15.0,
    max_workers_per_type: int = 2,
    workloads: Workloads | None = None,
    startup_timeout: float = 120.0,
    update_interval_s: int = TEST_UPDATE_INTERVAL_S,
) -> Iterator[SimulatedCluster]:
    """Start a simulated autoscaling cluster, connect this process to it, stop it on exit.

    Args:
        idle_timeout_s: how long a node may sit idle before the autoscaler removes it.
        max_workers_per_type: the most nodes of one workload type.
        workloads: the workloads spec (default: ``configs/workloads.yaml``).
        startup_timeout: seconds to wait for the head and the Job API to answer.
        update_interval_s: the autoscaler's loop interval (whole seconds); the default is
            shortened for tests, ``PRODUCTION_UPDATE_INTERVAL_S`` is Ray's and KubeRay's.
    """
    import ray

    spec = workloads if workloads is not None else load_workloads()
    temp_dir = Path(tempfile.mkdtemp(prefix="rl-as-", dir="/tmp"))
    token_file = temp_dir / "auth_token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    names = ["gcs", "dashboard", "agent_http", "agent_grpc", "client", "metrics", "runtime_env"]
    names += ["autoscaler_metrics", "dashboard_metrics"]
    ports = {name: _free_port() for name in names}
    gcs_address = f"127.0.0.1:{ports['gcs']}"
    config = autoscaler_config(
        spec,
        gcs_address=gcs_address,
        idle_timeout_minutes=idle_timeout_s / 60,
        max_workers_per_type=max_workers_per_type,
    )
    config_file = temp_dir / "autoscaler.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    env = _cluster_env(temp_dir, token_file, ports, update_interval_s)
    sim = SimulatedCluster(
        spec=spec,
        temp_dir=temp_dir,
        gcs_address=gcs_address,
        dashboard_url=f"http://127.0.0.1:{ports['dashboard']}",
        idle_timeout_s=idle_timeout_s,
        env=env,
    )
    try:
        _start_head(config_file, temp_dir, ports, env)
        with _process_env(env):
            ray.init(
                address=gcs_address,
                namespace="raylane-sim",
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
            try:
                _wait_job_api(sim, startup_timeout)
                yield sim
            finally:
                ray.shutdown()
    finally:
        _stop_processes(str(temp_dir), ports["gcs"])
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_job_api(sim: SimulatedCluster, timeout: float) -> None:
    def answers() -> bool:
        try:
            sim.job_client().list_jobs()
        except Exception:  # not up yet: the client raises whatever the connection gave it
            sim._job_client = None
            return False
        return True

    sim.wait_for(answers, timeout, interval=0.5, what="the Job API answering")


# --- the probe job -------------------------------------------------------------------------


WORKS = ("sleep", "train-step")
_TRAIN_TEXTS = [
    f"Question {i} about scaling workloads on a cluster, and the answer that matches it."
    for i in range(32)
]


def _train_step() -> None:
    """A training job's first useful step: load the model, one forward/backward/update on a
    batch of 32 texts with an in-batch contrastive loss (as sentence-transformers' multiple-
    negatives ranking loss does)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from raylane.infra.embeddings import default_model_dir

    model = SentenceTransformer(str(default_model_dir()), device="cpu")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    features = model.tokenize(_TRAIN_TEXTS)
    embeddings = model(features)["sentence_embedding"]
    anchors, positives = embeddings[0::2], embeddings[1::2]
    scores = torch.nn.functional.normalize(anchors) @ torch.nn.functional.normalize(positives).T
    loss = torch.nn.functional.cross_entropy(scores * 20, torch.arange(len(anchors)))
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()


def _probe_task(seconds: float, work: str) -> tuple[float, float | None, float]:
    started = time.time()
    useful = None
    if work == "train-step":
        _train_step()
        useful = time.time()
    time.sleep(seconds)
    return started, useful, time.time()


def run_probe(kind: str, *, seconds: float, tasks: int = 1, work: str = "sleep") -> list[ProbeRun]:
    """Run ``tasks`` tasks with the resources of ``kind``; print and return their times."""
    import ray

    ray.init(log_to_driver=False)
    remote = ray.remote(_probe_task).options(**task_resources(kind), name=f"probe-{kind}")
    runs = [
        ProbeRun(kind, started, finished, useful)
        for started, useful, finished in ray.get(
            [remote.remote(seconds, work) for _ in range(tasks)]
        )
    ]
    for run in runs:
        useful = "" if run.useful is None else f"useful={run.useful:.6f} "
        print(
            f"{PROBE_MARKER} kind={kind} started={run.started:.6f} {useful}"
            f"finished={run.finished:.6f}",
            flush=True,
        )
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run tasks that need one workload's resources.")
    parser.add_argument("--kind", required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--work", choices=WORKS, default="sleep")
    args = parser.parse_args(argv)
    run_probe(args.kind, seconds=args.seconds, tasks=args.tasks, work=args.work)


if __name__ == "__main__":
    main()
