"""Pod templates and the Ray cluster spec shared by the RayService and the RayJob template.

Every container runs as the Ray image's non-root user (uid 1000, gid 100), drops all
capabilities, cannot escalate, and (by default) has a read-only root filesystem with
``emptyDir`` volumes where Ray writes: ``/tmp`` (sessions, logs, spilling), ``/dev/shm`` (object
store) and ``~/.cache`` (model caches).
"""

from __future__ import annotations

import json
from typing import Any

from raylane.deploy.values import RAY_TOKEN_KEY, STORAGE_SECRET_KEYS, GroupOverride, Values
from raylane.infra.workloads import Workloads

SERVE_PORT = 8000
DASHBOARD_PORT = 8265
GCS_PORT = 6379
CLIENT_PORT = 10001
METRICS_PORT = 8080
RAY_UID = 1000
RAY_GID = 100
HOME = "/home/ray"

Manifest = dict[str, Any]

# Port names are the ones KubeRay looks for (it builds the head and serve Services from them).
HEAD_PORTS = [
    {"name": "gcs-server", "containerPort": GCS_PORT, "protocol": "TCP"},
    {"name": "dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
    {"name": "client", "containerPort": CLIENT_PORT, "protocol": "TCP"},
    {"name": "serve", "containerPort": SERVE_PORT, "protocol": "TCP"},
    {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
]
WORKER_PORTS = [
    {"name": "serve", "containerPort": SERVE_PORT, "protocol": "TCP"},
    {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
]
SIDECAR_SIZE = {"cpu": "500m", "memory": "512Mi"}


def labels(values: Values, component: str) -> dict[str, str]:
    """Standard labels; ``app.kubernetes.io/instance`` marks every pod of the release."""
    return {
        "app.kubernetes.io/name": "raylane",
        "app.kubernetes.io/instance": values.name,
        "app.kubernetes.io/part-of": "raylane",
        "app.kubernetes.io/component": component,
    }


def meta(values: Values, name: str, component: str) -> Manifest:
    """``metadata`` of a namespaced object of this release."""
    return {"name": name, "namespace": values.namespace, "labels": labels(values, component)}


def serve_service_name(values: Values) -> str:
    """The Service KubeRay keeps pointed at the active cluster's Serve proxies."""
    return f"{values.name}-serve"


def release_selector(values: Values) -> dict[str, str]:
    """Selects every pod of this release (Ray pods, jobs, submitters)."""
    return {"app.kubernetes.io/instance": values.name}


def pod_security() -> Manifest:
    """Pod-level security context (Pod Security Standard ``restricted`` compatible)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RAY_UID,
        "runAsGroup": RAY_GID,
        "fsGroup": RAY_GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security(read_only_root: bool = True) -> Manifest:
    """Container security context applied to every container we define."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RAY_UID,
        "runAsGroup": RAY_GID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def size(cpu: int | str, memory: str) -> Manifest:
    """Requests equal to limits: Ray advertises the limits, so the two must agree."""
    amount = {"cpu": str(cpu), "memory": memory}
    return {"requests": dict(amount), "limits": dict(amount)}


def secret_env(values: Values, *keys: str) -> list[Manifest]:
    """Environment variables read one by one from the release Secret (least privilege)."""
    return [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": values.secret_name, "key": key}}}
        for key in keys
    ]


def ray_auth_env(values: Values) -> list[Manifest]:
    """Ray token authentication: mode plus the token from the Secret (KubeRay's key name)."""
    ref = {"name": values.secret_name, "key": RAY_TOKEN_KEY}
    return [
        {"name": "RAY_AUTH_MODE", "value": "token"},
        {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": ref}},
    ]


def app_env(values: Values) -> list[Manifest]:
    """What Raylane code in Ray pods needs from the Secret (never the owner URL)."""
    # Optional: absent keys leave the pod identity (IRSA, workload identity) to sign requests.
    optional = [
        {
            "name": key,
            "valueFrom": {
                "secretKeyRef": {"name": values.secret_name, "key": key, "optional": True}
            },
        }
        for key in STORAGE_SECRET_KEYS
    ]
    return [
        *ray_auth_env(values),
        *secret_env(values, "RAYLANE_DATABASE_URL", "RAYLANE_REDIS_URL", "RAYLANE_SECRET_KEY"),
        *optional,
    ]


def scratch_volumes(*, ray: bool) -> tuple[list[Manifest], list[Manifest]]:
    """Writable ``emptyDir`` volumes and mounts for a read-only root filesystem."""
    volumes: list[Manifest] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[Manifest] = [{"name": "tmp", "mountPath": "/tmp"}]
    if ray:
        volumes += [
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
            {"name": "cache", "emptyDir": {}},
        ]
        mounts += [
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "cache", "mountPath": f"{HOME}/.cache"},
        ]
    return volumes, mounts


def ray_container(
    values: Values,
    *,
    name: str,
    cpu: int,
    memory: str,
    ports: list[Manifest],
    extra_limits: dict[str, str] | None = None,
) -> Manifest:
    """The Ray container (first in its pod: KubeRay and the autoscaler read containers[0])."""
    _, mounts = scratch_volumes(ray=True)
    resources = size(cpu, memory)
    for key, amount in (extra_limits or {}).items():
        resources["requests"][key] = amount
        resources["limits"][key] = amount
    return {
        "name": name,
        "image": values.image,
        "imagePullPolicy": values.image_pull_policy,
        "ports": [dict(p) for p in ports],
        "envFrom": [{"configMapRef": {"name": values.config_name}}],
        "env": app_env(values),
        "resources": resources,
        "securityContext": container_security(values.read_only_root_filesystem),
        "volumeMounts": mounts,
    }


def ray_pod_template(
    values: Values,
    container: Manifest,
    *,
    component: str,
    workload: str | None = None,
    head: bool = False,
    tolerations: list[Manifest] | None = None,
) -> Manifest:
    """A Ray pod template. ``restartPolicy: Never`` because autoscaler v2 replaces failed pods."""
    volumes, _ = scratch_volumes(ray=True)
    pod_labels = labels(values, component)
    if workload is not None:
        pod_labels["raylane.io/workload"] = workload
    spec: Manifest = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": volumes,
    }
    if not head:
        # The head keeps KubeRay's service account: the autoscaler sidecar needs its token.
        spec["serviceAccountName"] = values.name
        spec["automountServiceAccountToken"] = False
    if tolerations:
        spec["tolerations"] = tolerations
    return {"metadata": {"labels": pod_labels}, "spec": spec}


def resources_param(resources: dict[str, int]) -> str:
    """``rayStartParams.resources`` quoted the way ``ray start`` and the autoscaler both parse."""
    body = json.dumps(resources, sort_keys=True)
    return '"' + body.replace('"', '\\"') + '"'


def head_group(values: Values) -> Manifest:
    """Head: no Ray CPUs (nothing is scheduled there), dashboard bound for the operator only."""
    container = ray_container(
        values, name="ray-head", cpu=values.head.cpu, memory=values.head.memory, ports=HEAD_PORTS
    )
    return {
        "serviceType": "ClusterIP",
        "enableIngress": False,
        "rayStartParams": {
            "num-cpus": "0",
            "dashboard-host": "0.0.0.0",
            "metrics-export-port": str(METRICS_PORT),
        },
        "template": ray_pod_template(values, container, component="ray-head", head=True),
    }


def worker_group(
    values: Values,
    spec: Workloads,
    kind: str,
    *,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> Manifest:
    """One worker group per workload, advertising that workload's custom resource."""
    workload = spec.workload(kind)
    override = values.workers.get(kind, GroupOverride())
    cpu = override.cpu or workload.node.cpu
    memory = override.memory or workload.node.memory
    low = min_replicas if min_replicas is not None else override.min_replicas
    high = max_replicas if max_replicas is not None else override.max_replicas
    low = workload.scaling.min_replicas if low is None else low
    high = workload.scaling.max_replicas if high is None else high
    if low > high:
        raise ValueError(f"worker group {kind}: min_replicas {low} > max_replicas {high}")
    container = ray_container(values, name="ray-worker", cpu=cpu, memory=memory, ports=WORKER_PORTS)
    return {
        "groupName": kind,
        "replicas": low,
        "minReplicas": low,
        "maxReplicas": high,
        "rayStartParams": {
            "num-cpus": str(cpu),
            "resources": resources_param({workload.resource: workload.node.slots}),
            "metrics-export-port": str(METRICS_PORT),
        },
        "template": ray_pod_template(values, container, component="ray-worker", workload=kind),
    }


def gpu_worker_group(values: Values, spec: Workloads) -> Manifest:
    """GPU pods for inference and training; scale from zero unless the values say otherwise."""
    group = spec.gpu_group
    override = values.gpu_workers
    cpu = override.cpu or group.node.cpu
    memory = override.memory or group.node.memory
    low = group.scaling.min_replicas if override.min_replicas is None else override.min_replicas
    high = group.scaling.max_replicas if override.max_replicas is None else override.max_replicas
    if low > high:
        raise ValueError(f"gpu group: min_replicas {low} > max_replicas {high}")
    gpus = str(group.node.gpus)
    container = ray_container(
        values,
        name="ray-worker",
        cpu=cpu,
        memory=memory,
        ports=WORKER_PORTS,
        extra_limits={"nvidia.com/gpu": gpus},
    )
    served = {spec.workload(kind).resource: group.node.slots for kind in group.workloads}
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    return {
        "groupName": group.name,
        "replicas": low,
        "minReplicas": low,
        "maxReplicas": high,
        "rayStartParams": {
            "num-cpus": str(cpu),
            "num-gpus": gpus,
            "resources": resources_param(served),
            "metrics-export-port": str(METRICS_PORT),
        },
        "template": ray_pod_template(
            values, container, component="ray-worker", workload=group.name, tolerations=[toleration]
        ),
    }


def autoscaler_options(values: Values) -> Manifest:
    """In-tree autoscaler v2 (``version: v2``; KubeRay rejects the env var alongside it)."""
    return {
        "version": "v2",
        "idleTimeoutSeconds": values.idle_timeout_seconds,
        "upscalingMode": values.upscaling_mode,
        "resources": size(SIDECAR_SIZE["cpu"], SIDECAR_SIZE["memory"]),
        "securityContext": container_security(True),
        "env": ray_auth_env(values),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def ray_cluster_spec(values: Values, worker_groups: list[Manifest]) -> Manifest:
    """``rayClusterConfig`` / ``rayClusterSpec``: head, worker groups, autoscaler, token auth."""
    return {
        "rayVersion": values.ray_version,
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": autoscaler_options(values),
        # KubeRay (>= 1.6) then skips generating its own token Secret and uses ours, so
        # the operator's own dashboard calls (Serve deploys, job submits) authenticate too.
        "authOptions": {"mode": "token", "secretName": values.secret_name},
        "headGroupSpec": head_group(values),
        "workerGroupSpecs": worker_groups,
    }
