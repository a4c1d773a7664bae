"""Workload kinds, their Ray resources and scaling bounds, read from ``configs/workloads.yaml``.

One file says where each kind of work runs: the local head declares every workload's custom
resource (:func:`head_resources`), jobs and tasks request theirs (:func:`task_resources`), Serve
deployments get their replica bounds from it (:func:`serve_options`), and the KubeRay manifests
are rendered from it (:mod:`raylane.deploy.render`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# This file is raylane/infra/workloads.py: the package is two folders up, the repo above it.
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_WORKLOADS_FILE = _PACKAGE_ROOT.parent / "configs" / "workloads.yaml"
PACKAGED_WORKLOADS_FILE = _PACKAGE_ROOT / "configs" / "workloads.yaml"

_RESOURCE_NAME = re.compile(r"^workload_[a-z][a-z0-9_]*$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_SUFFIX = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}


def parse_quantity(quantity: str) -> int:
    """Bytes in a Kubernetes memory quantity such as ``4Gi`` or ``512Mi``."""
    match = _QUANTITY.match(quantity.strip())
    if match is None:
        raise ValueError(f"not a memory quantity: {quantity!r} (use e.g. 512Mi, 4Gi)")
    return int(float(match.group(1)) * _SUFFIX[match.group(2)])


def _check_units(units: float) -> float:
    # Ray accepts fractional custom-resource requests only below 1; above that, whole units.
    if units > 1 and units != int(units):
        raise ValueError(f"units above 1 must be whole numbers, got {units}")
    return units


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeShape(_Strict):
    """One Ray worker pod: what Kubernetes gives it and how many units of its resource it offers."""

    cpu: int = Field(ge=1)
    memory: str
    slots: int = Field(ge=1, description="units of the workload resource each pod advertises")
    gpus: int = Field(default=0, ge=0)

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        parse_quantity(value)
        return value


class TaskShape(_Strict):
    """What one job driver or task of a workload requests from Ray."""

    num_cpus: float = Field(ge=0)
    units: float = Field(default=1, gt=0)
    memory: str | None = None

    @field_validator("units")
    @classmethod
    def _units(cls, value: float) -> float:
        return _check_units(value)

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quantity(value)
        return value


class Scaling(_Strict):
    """Bounds of a worker group (pods), enforced by the Ray autoscaler on KubeRay."""

    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Scaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} > max_replicas {self.max_replicas}")
        return self


class Workload(_Strict):
    """One workload kind: its custom Ray resource, pod shape, task shape and scaling bounds."""

    description: str
    resource: str
    node: NodeShape
    task: TaskShape
    scaling: Scaling

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: str) -> str:
        if not _RESOURCE_NAME.match(value):
            raise ValueError(f"resource {value!r} must look like workload_<name> (a-z, 0-9, _)")
        return value


class GpuGroup(_Strict):
    """GPU pods that serve the listed workloads; rendered only when GPUs are switched on."""

    name: str
    workloads: list[str] = Field(min_length=1)
    node: NodeShape
    gpus_per_task: int = Field(default=1, ge=1)
    scaling: Scaling

    @model_validator(mode="after")
    def _has_gpus(self) -> GpuGroup:
        if self.node.gpus < self.gpus_per_task:
            raise ValueError("gpu_group.node.gpus must be at least gpus_per_task")
        return self


# Serve's own defaults for a deployment's load window and report interval (a test holds them to
# Ray's): the window must stay longer than the interval.
SERVE_LOOK_BACK_S = 30.0
SERVE_METRICS_INTERVAL_S = 10.0


class ServeDeployment(_Strict):
    """Placement and autoscaling of one Serve deployment of the Raylane app."""

    workload: str
    num_cpus: float = Field(ge=0)
    units: float = Field(default=1, gt=0)
    use_gpu: bool = False
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=1)
    target_ongoing_requests: float = Field(gt=0)
    max_ongoing_requests: int = Field(ge=1)
    # Seconds a load change must last before Serve adds (removes) replicas; None: Serve's default.
    upscale_delay_s: float | None = Field(default=None, ge=0)
    downscale_delay_s: float | None = Field(default=None, ge=0)
    # Seconds of load Serve averages when it decides, and how often replicas report it (the
    # window must be longer); None: Serve's defaults (above).
    look_back_period_s: float | None = Field(default=None, gt=0)
    metrics_interval_s: float | None = Field(default=None, gt=0)

    @field_validator("units")
    @classmethod
    def _units(cls, value: float) -> float:
        return _check_units(value)

    @model_validator(mode="after")
    def _bounds(self) -> ServeDeployment:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} > max_replicas {self.max_replicas}")
        if self.target_ongoing_requests > self.max_ongoing_requests:
            raise ValueError("target_ongoing_requests must not exceed max_ongoing_requests")
        window = self.look_back_period_s or SERVE_LOOK_BACK_S
        interval = self.metrics_interval_s or SERVE_METRICS_INTERVAL_S
        if window <= interval:
            raise ValueError(
                f"look_back_period_s ({window}) must be longer than metrics_interval_s ({interval})"
            )
        return self


class ServeApp(_Strict):
    """The one Serve application and its deployments."""

    app_name: str
    import_path: str
    route_prefix: str = "/"
    deployments: dict[str, ServeDeployment] = Field(min_length=1)


class JobSpec(_Strict):
    """A Ray job entrypoint module (``raylane.jobs.<name>``) and the workload it runs as."""

    workload: str


class Workloads(_Strict):
    """The whole ``workloads.yaml`` file."""

    version: Literal[1]
    local_head_units: int = Field(ge=1)
    workloads: dict[str, Workload] = Field(min_length=1)
    gpu_group: GpuGroup
    serve: ServeApp
    jobs: dict[str, JobSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Workloads:
        resources = [w.resource for w in self.workloads.values()]
        if len(set(resources)) != len(resources):
            raise ValueError("each workload needs its own custom resource")
        known = set(self.workloads)
        refs = [(f"gpu_group.workloads[{n}]", n) for n in self.gpu_group.workloads]
        refs += [(f"serve.deployments.{d}", s.workload) for d, s in self.serve.deployments.items()]
        refs += [(f"jobs.{j}", s.workload) for j, s in self.jobs.items()]
        for where, name in refs:
            if name not in known:
                raise ValueError(f"{where}: unknown workload {name!r} (known: {sorted(known)})")
        for name, dep in self.serve.deployments.items():
            if dep.use_gpu and dep.workload not in self.gpu_group.workloads:
                raise ValueError(f"serve.deployments.{name}: workload is not in gpu_group")
        return self

    def workload(self, kind: str) -> Workload:
        """The workload named ``kind``; ``KeyError`` lists the known kinds."""
        try:
            return self.workloads[kind]
        except KeyError:
            raise KeyError(f"unknown workload {kind!r}; known: {sorted(self.workloads)}") from None


def default_workloads_path() -> Path:
    """The repository's ``configs/workloads.yaml`` when present, else the packaged copy."""
    return REPO_WORKLOADS_FILE if REPO_WORKLOADS_FILE.is_file() else PACKAGED_WORKLOADS_FILE


def load_workloads(path: str | Path | None = None) -> Workloads:
    """Read and validate a workloads file (default: :func:`default_workloads_path`)."""
    file = Path(path) if path is not None else default_workloads_path()
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    return Workloads.model_validate(data)


@lru_cache(maxsize=1)
def _default() -> Workloads:
    return load_workloads()


def _resolve(workloads: Workloads | None) -> Workloads:
    return workloads if workloads is not None else _default()


def serve_app(workloads: Workloads | None = None) -> ServeApp:
    """The one Serve application: its name and route prefix, for ``raylane up`` as for KubeRay."""
    return _resolve(workloads).serve


def head_resources(workloads: Workloads | None = None) -> dict[str, float]:
    """Custom resources for a single local head: every workload's, in a large count.

    Pass the result as ``resources=`` to ``ray.init``/``ray start`` so that every job, task and
    Serve replica (which request their workload's resource) can run on one laptop.
    """
    spec = _resolve(workloads)
    return {w.resource: float(spec.local_head_units) for w in spec.workloads.values()}


def task_resources(
    kind: str, *, gpu: bool = False, workloads: Workloads | None = None
) -> dict[str, Any]:
    """Ray options for a job driver or task of workload ``kind``.

    Returns ``{"num_cpus": ..., "resources": {"workload_<kind>": units}}`` plus ``memory``
    (bytes) when the workload sets one and ``num_gpus`` when ``gpu`` is true, ready for
    ``f.options(**task_resources("embeddings"))``.

    Raises:
        KeyError: ``kind`` is not a workload.
        ValueError: ``gpu`` was asked for a workload the GPU group does not serve.
    """
    spec = _resolve(workloads)
    workload = spec.workload(kind)
    options: dict[str, Any] = {
        "num_cpus": workload.task.num_cpus,
        "resources": {workload.resource: workload.task.units},
    }
    if workload.task.memory is not None:
        options["memory"] = parse_quantity(workload.task.memory)
    if gpu:
        if kind not in spec.gpu_group.workloads:
            raise ValueError(f"workload {kind!r} does not run on the GPU group")
        options["num_gpus"] = spec.gpu_group.gpus_per_task
    return options


def serve_options(
    deployment_name: str, *, gpu: bool = False, workloads: Workloads | None = None
) -> dict[str, Any]:
    """Serve options for one deployment: ``autoscaling_config`` and ``ray_actor_options``.

    Also carries ``max_ongoing_requests``, so ``MyDeployment.options(**serve_options(name))``
    applies the whole policy. ``gpu`` asks for GPUs for deployments marked ``use_gpu`` (use it
    only where a GPU group exists; a laptop has none).

    Raises:
        KeyError: no such deployment in ``workloads.yaml``.
    """
    spec = _resolve(workloads)
    try:
        dep = spec.serve.deployments[deployment_name]
    except KeyError:
        known = sorted(spec.serve.deployments)
        raise KeyError(f"unknown Serve deployment {deployment_name!r}; known: {known}") from None
    actor: dict[str, Any] = {
        "num_cpus": dep.num_cpus,
        "resources": {spec.workload(dep.workload).resource: dep.units},
    }
    if gpu and dep.use_gpu:
        actor["num_gpus"] = spec.gpu_group.gpus_per_task
    return {
        "autoscaling_config": {
            "min_replicas": dep.min_replicas,
            "max_replicas": dep.max_replicas,
            "target_ongoing_requests": dep.target_ongoing_requests,
        }
        | {
            key: value
            for key, value in (
                ("upscale_delay_s", dep.upscale_delay_s),
                ("downscale_delay_s", dep.downscale_delay_s),
                ("look_back_period_s", dep.look_back_period_s),
                ("metrics_interval_s", dep.metrics_interval_s),
            )
            if value is not None
        },
        "max_ongoing_requests": dep.max_ongoing_requests,
        "ray_actor_options": actor,
    }


def job_entrypoint(job: str, run_id: str, *, workloads: Workloads | None = None) -> str:
    """The fixed entrypoint of job module ``job`` for one run: never built from tenant input.

    Raises:
        KeyError: ``job`` is not declared in ``workloads.yaml``.
        ValueError: ``run_id`` is not a plain identifier.
    """
    spec = _resolve(workloads)
    if job not in spec.jobs:
        raise KeyError(f"unknown job {job!r}; known: {sorted(spec.jobs)}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", run_id):
        raise ValueError(f"run id {run_id!r} must be letters, digits, '-' or '_' (max 64)")
    return f"python -m raylane.jobs.{job} --run-id {run_id}"
