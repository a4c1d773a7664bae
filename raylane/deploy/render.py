"""Render the KubeRay deployment of Raylane from ``configs/workloads.yaml`` plus a values file.

``render(values)`` returns the manifests (dicts) of one stack: namespace, service account,
settings ConfigMap, Secret template, network policies, the migrations Job, the RayService
(Serve app + one autoscaled worker group per workload), the Ingress, a PodMonitor and a
suspended RayJob template. ``render_yaml`` turns them into the committed
``cluster/rendered/*.yaml``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from raylane.deploy import pods
from raylane.deploy.edge import ingress, network_policies, pod_monitor
from raylane.deploy.pods import Manifest, labels, meta
from raylane.deploy.values import RAY_TOKEN_KEY, Values
from raylane.infra.runtime import SERVE_ENV
from raylane.infra.workloads import (
    Workloads,
    job_entrypoint,
    load_workloads,
    serve_options,
    task_resources,
)

PLACEHOLDER = "REPLACE_ME"
TEMPLATE_RUN_ID = "RUN_ID"


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "x"


def namespace(values: Values) -> Manifest:
    """The namespace, warning on anything below the ``restricted`` Pod Security Standard."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": values.namespace,
            "labels": {
                "app.kubernetes.io/part-of": "raylane",
                "app.kubernetes.io/component": "namespace",
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
            },
        },
    }


def service_account(values: Values) -> Manifest:
    """Identity of workers, jobs and submitters; they need no Kubernetes API token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(values, values.name, "identity"),
        "automountServiceAccountToken": False,
    }


def config_map(values: Values) -> Manifest:
    """Non-secret settings, read by every Raylane process through ``envFrom``."""
    data = {
        "RAYLANE_ENV": values.app_env,
        "RAYLANE_REGION": values.region,
        "RAYLANE_DATA_DIR": "/tmp/raylane",
        # Serve reads these at start-up only; see docs/deployment.md.
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    } | SERVE_ENV
    if values.serve_haproxy:
        data["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
    storage = values.storage
    for key, value in (
        ("RAYLANE_STORAGE__URL", storage.url),
        ("RAYLANE_STORAGE__ENDPOINT_URL", storage.endpoint_url),
        ("RAYLANE_STORAGE__REGION", storage.region),
    ):
        if value:
            data[key] = value
    data.update(values.settings)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(values, values.config_name, "config"),
        "data": dict(sorted(data.items())),
    }


def secret_template(values: Values) -> Manifest:
    """The Secret with placeholder values: replace every one before real use.

    The placeholder secret key is deliberately shorter than 32 characters, so production
    settings refuse to start until it has been replaced.
    """
    data = {
        "RAYLANE_DATABASE_URL": f"postgresql://raylane_app:{PLACEHOLDER}@postgres:5432/raylane",
        "RAYLANE_DATABASE_OWNER_URL": (
            f"postgresql://raylane_owner:{PLACEHOLDER}@postgres:5432/raylane"
        ),
        "RAYLANE_REDIS_URL": f"redis://:{PLACEHOLDER}@redis:6379/0",
        "RAYLANE_SECRET_KEY": PLACEHOLDER,
        RAY_TOKEN_KEY: PLACEHOLDER,
    }
    metadata = meta(values, values.secret_name, "secret-template")
    metadata["annotations"] = {
        "raylane.io/template": "true",
        "raylane.io/replace": f"every {PLACEHOLDER} value; see docs/deployment.md",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": data,
    }


def migrations_job(values: Values) -> Manifest:
    """``raylane db upgrade`` as the owner role; named per image so each release runs it once."""
    volumes, mounts = pods.scratch_volumes(ray=False)
    tag = values.image.rsplit("@", 1)[0].rsplit(":", 1)
    version = tag[1] if len(tag) == 2 and "/" not in tag[1] else "latest"
    container = {
        "name": "db-upgrade",
        "image": values.image,
        "imagePullPolicy": values.image_pull_policy,
        "command": ["raylane", "db", "upgrade"],
        "envFrom": [{"configMapRef": {"name": values.config_name}}],
        "env": pods.secret_env(
            values, "RAYLANE_DATABASE_OWNER_URL", "RAYLANE_DATABASE_URL", "RAYLANE_SECRET_KEY"
        ),
        "resources": pods.size("500m", "512Mi"),
        "securityContext": pods.container_security(True),
        "volumeMounts": mounts,
    }
    name = f"{values.name}-db-upgrade-{_slug(version, 20)}"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(values, name, "migrations"),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 1800,
            "ttlSecondsAfterFinished": values.migrations_ttl_seconds,
            "template": {
                "metadata": {"labels": labels(values, "migrations")},
                "spec": {
                    "restartPolicy": "Never",
                    "enableServiceLinks": False,
                    "serviceAccountName": values.name,
                    "automountServiceAccountToken": False,
                    "securityContext": pods.pod_security(),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _check_overrides(values: Values, spec: Workloads) -> None:
    for kind in values.workers:
        spec.workload(kind)
    unknown = sorted(set(values.serve) - set(spec.serve.deployments))
    if unknown:
        raise ValueError(f"serve overrides for unknown deployments: {unknown}")


def serve_deployments(values: Values, spec: Workloads) -> list[Manifest]:
    """Per-deployment options from workloads.yaml with this stack's overrides applied."""
    result = []
    for name, dep in spec.serve.deployments.items():
        options = serve_options(name, gpu=values.gpu, workloads=spec)
        scaling = options["autoscaling_config"]
        override = values.serve.get(name)
        if override is not None:
            scaling.update(override.model_dump(exclude_none=True))
        if scaling["min_replicas"] > scaling["max_replicas"]:
            raise ValueError(f"serve.{name}: min_replicas > max_replicas")
        if scaling["target_ongoing_requests"] > dep.max_ongoing_requests:
            raise ValueError(f"serve.{name}: target_ongoing_requests > max_ongoing_requests")
        # "auto" clears any num_replicas set in code, so the autoscaling config here governs.
        result.append({"name": name, "num_replicas": "auto", **options})
    return result


def serve_config(values: Values, spec: Workloads) -> str:
    """``serveConfigV2``: the Raylane app with per-deployment autoscaling and placement."""
    config = {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": pods.SERVE_PORT},
        "logging_config": {"encoding": "JSON"},
        "applications": [
            {
                "name": spec.serve.app_name,
                "route_prefix": spec.serve.route_prefix,
                "import_path": spec.serve.import_path,
                "deployments": serve_deployments(values, spec),
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def worker_groups(values: Values, spec: Workloads) -> list[Manifest]:
    """One group per workload, plus the GPU group when the stack has GPUs."""
    groups = [pods.worker_group(values, spec, kind) for kind in spec.workloads]
    if values.gpu:
        groups.append(pods.gpu_worker_group(values, spec))
    return groups


def ray_service(values: Values, spec: Workloads) -> Manifest:
    """The RayService: Serve app, autoscaled worker groups, zero-downtime cluster upgrades."""
    serve_svc = {
        "metadata": {"name": pods.serve_service_name(values), "labels": labels(values, "serve")},
        "spec": {
            "type": "ClusterIP",
            "ports": [{"name": "serve", "port": pods.SERVE_PORT, "targetPort": pods.SERVE_PORT}],
        },
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": meta(values, values.name, "ray-service"),
        "spec": {
            # A changed rayClusterConfig starts a new cluster; traffic moves when it is healthy.
            "upgradeStrategy": {"type": "NewCluster"},
            "rayClusterDeletionDelaySeconds": 60,
            "excludeHeadPodFromServeSvc": True,
            "serveService": serve_svc,
            "serveConfigV2": serve_config(values, spec),
            "rayClusterConfig": pods.ray_cluster_spec(values, worker_groups(values, spec)),
        },
    }


def _submitter_template(values: Values) -> Manifest:
    volumes, mounts = pods.scratch_volumes(ray=False)
    container = {
        "name": "ray-job-submitter",
        "image": values.image,
        "imagePullPolicy": values.image_pull_policy,
        "env": pods.ray_auth_env(values),
        "resources": pods.size("500m", "512Mi"),
        "securityContext": pods.container_security(True),
        "volumeMounts": mounts,
    }
    return {
        "metadata": {"labels": labels(values, "rayjob-submitter")},
        "spec": {
            "restartPolicy": "Never",
            "enableServiceLinks": False,
            "serviceAccountName": values.name,
            "automountServiceAccountToken": False,
            "securityContext": pods.pod_security(),
            "containers": [container],
            "volumes": volumes,
        },
    }


def ray_job(
    values: Values,
    spec: Workloads,
    *,
    job: str,
    run_id: str,
    suspend: bool = False,
    gpu: bool = False,
) -> Manifest:
    """A RayJob running one job module for one run on its own short-lived cluster."""
    if job not in spec.jobs:
        raise KeyError(f"unknown job {job!r}; known: {sorted(spec.jobs)}")
    kind = spec.jobs[job].workload
    entrypoint = job_entrypoint(job, run_id, workloads=spec)
    driver = task_resources(kind, workloads=spec)
    high = max(1, spec.workload(kind).scaling.max_replicas)
    groups = [pods.worker_group(values, spec, kind, min_replicas=1, max_replicas=high)]
    if gpu:
        task_resources(kind, gpu=True, workloads=spec)  # raises if the GPU group can't run it
        groups.append(pods.gpu_worker_group(values, spec))
    name = f"{values.name}-{_slug(job, 12)}-{_slug(run_id, 12)}"
    job_spec: Manifest = {
        "entrypoint": entrypoint,
        "entrypointNumCpus": driver["num_cpus"],
        "entrypointResources": json.dumps(driver["resources"], sort_keys=True),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 600,
        # Retries belong to the Run (Postgres), not to KubeRay: one attempt per RayJob.
        "backoffLimit": 0,
        "submitterPodTemplate": _submitter_template(values),
        "rayClusterSpec": pods.ray_cluster_spec(values, groups),
    }
    if suspend:
        job_spec["suspend"] = True
    metadata = meta(values, name, "rayjob-template" if suspend else "rayjob")
    metadata["labels"]["raylane.io/job"] = job
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": metadata, "spec": job_spec}


def render(values: Values, *, workloads: Workloads | None = None) -> list[dict[str, Any]]:
    """Every manifest of one stack, in apply order."""
    spec = workloads if workloads is not None else load_workloads()
    _check_overrides(values, spec)
    manifests: list[Manifest] = []
    if values.create_namespace:
        manifests.append(namespace(values))
    manifests += [service_account(values), config_map(values)]
    if values.existing_secret is None:
        manifests.append(secret_template(values))
    manifests += network_policies(values)
    manifests += [migrations_job(values), ray_service(values, spec), ingress(values)]
    if values.monitoring.pod_monitor:
        manifests.append(pod_monitor(values))
    manifests.append(
        ray_job(values, spec, job=values.rayjob.job, run_id=TEMPLATE_RUN_ID, suspend=True)
    )
    return manifests


def render_rayjob(
    values: Values,
    *,
    job: str,
    run_id: str,
    gpu: bool = False,
    workloads: Workloads | None = None,
) -> dict[str, Any]:
    """A ready-to-apply RayJob for one run of ``python -m raylane.jobs.<job>``."""
    spec = workloads if workloads is not None else load_workloads()
    return ray_job(values, spec, job=job, run_id=run_id, gpu=gpu)


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (serveConfigV2), and no anchors/aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(manifests: list[dict[str, Any]], *, header: str = "") -> str:
    """Multi-document YAML, optionally preceded by comment lines."""
    body = yaml.dump_all(manifests, Dumper=_Dumper, sort_keys=False, width=100, explicit_start=True)
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return lines + body


def render_yaml(values: Values, *, source: str = "", workloads: Workloads | None = None) -> str:
    """``render`` as the committed multi-document YAML, with a do-not-edit header."""
    header = (
        f"Generated by `raylane cluster render --values {source or '<values>'}` from\n"
        "configs/workloads.yaml. Do not edit: change those files and render again.\n"
        f"Before applying, replace every {PLACEHOLDER} value (see docs/deployment.md)."
    )
    return to_yaml(render(values, workloads=workloads), header=header)
