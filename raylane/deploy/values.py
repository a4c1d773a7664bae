"""Deployment values for the KubeRay manifests: the few knobs that differ between stacks.

Everything about workloads (resources, bounds) comes from ``configs/workloads.yaml``; a values
file only says where and how big this particular stack is (``cluster/values/*.yaml``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raylane.infra.workloads import parse_quantity

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")

# Keys of the Secret: never accepted as plain settings in the ConfigMap.
SECRET_KEYS = (
    "RAYLANE_DATABASE_URL",
    "RAYLANE_DATABASE_OWNER_URL",
    "RAYLANE_REDIS_URL",
    "RAYLANE_SECRET_KEY",
)
# Optional Secret keys: object-storage credentials when the pod identity does not provide them.
STORAGE_SECRET_KEYS = ("RAYLANE_STORAGE__ACCESS_KEY_ID", "RAYLANE_STORAGE__SECRET_ACCESS_KEY")
# KubeRay reads the Ray token from this key when ``authOptions.secretName`` names the Secret.
RAY_TOKEN_KEY = "auth_token"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _dns_label(value: str, what: str) -> str:
    if len(value) > 40 or not _DNS_LABEL.match(value):
        raise ValueError(f"{what} {value!r} must be a DNS label (a-z, 0-9, '-'), at most 40 chars")
    return value


class PodSize(_Strict):
    """CPU (whole cores, as Ray counts them) and memory of one pod."""

    cpu: int = Field(ge=1)
    memory: str

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        parse_quantity(value)
        return value


class GroupOverride(_Strict):
    """Per-stack overrides of one worker group's bounds and pod size."""

    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int | None = Field(default=None, ge=1)
    cpu: int | None = Field(default=None, ge=1)
    memory: str | None = None

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quantity(value)
        return value


class ServeOverride(_Strict):
    """Per-stack overrides of one Serve deployment's autoscaling."""

    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int | None = Field(default=None, ge=1)
    target_ongoing_requests: float | None = Field(default=None, gt=0)


class StorageValues(_Strict):
    """Object storage (non-secret part); credentials come from the pod identity or the Secret."""

    url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None


class IngressValues(_Strict):
    """The one public entry: HTTP to the Serve port through an ingress controller."""

    host: str
    class_name: str = "nginx"
    tls_secret: str | None = None
    controller_namespace: str = "ingress-nginx"
    annotations: dict[str, str] = Field(default_factory=dict)


class MonitoringValues(_Strict):
    """Prometheus Operator scraping."""

    pod_monitor: bool = True
    namespace: str = "monitoring"
    interval: str = "30s"


class EgressPeer(_Strict):
    """Somewhere worker pods may open connections to: pods (by labels) or an address range."""

    namespace: str | None = None  # pods in this namespace; None: the release's own namespace
    pod_labels: dict[str, str] = Field(default_factory=dict)
    cidr: str | None = None  # instead of pods: an address range (a managed database, S3 endpoint)
    ports: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> EgressPeer:
        if self.cidr is not None and (self.namespace or self.pod_labels):
            raise ValueError("an egress peer is either a cidr or pods, not both")
        if self.cidr is None and not self.pod_labels:
            raise ValueError("an egress peer needs pod_labels or a cidr")
        if self.cidr in {"0.0.0.0/0", "::/0"}:
            raise ValueError("an egress peer may not be the whole internet")
        return self


class EgressValues(_Strict):
    """Where worker pods may connect besides the Ray pods of the release; nothing else.

    Workers parse tenants' untrusted files: a parser exploit must not reach anything beyond
    the services Raylane itself needs. The defaults match the Secret template's hosts
    (``postgres`` and ``redis`` Services in the release namespace).
    """

    postgres: list[EgressPeer] = Field(
        default_factory=lambda: [
            EgressPeer(pod_labels={"app.kubernetes.io/name": "postgres"}, ports=[5432])
        ]
    )
    redis: list[EgressPeer] = Field(
        default_factory=lambda: [
            EgressPeer(pod_labels={"app.kubernetes.io/name": "redis"}, ports=[6379])
        ]
    )
    # Required when storage.url is set: S3 or MinIO is somewhere only the operator knows.
    storage: list[EgressPeer] = Field(default_factory=list)
    dns: EgressPeer = EgressPeer(
        namespace="kube-system", pod_labels={"k8s-app": "kube-dns"}, ports=[53]
    )
    # An OpenAI-compatible LLM endpoint: reachable from the copilot-inference (and GPU) groups only.
    llm: list[EgressPeer] = Field(default_factory=list)


class RayJobValues(_Strict):
    """The suspended RayJob template in the stack; ``raylane cluster rayjob`` renders real ones."""

    job: str = "ingest"


class Values(_Strict):
    """One stack (one region, one namespace) of Raylane on KubeRay."""

    name: str = "raylane"
    namespace: str = "raylane"
    create_namespace: bool = True
    image: str = "raylane:0.1.0"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    ray_version: str = "2.60.0"
    app_env: Literal["production", "development", "test"] = "production"
    region: str = "local"
    gpu: bool = False
    head: PodSize = PodSize(cpu=2, memory="8Gi")
    workers: dict[str, GroupOverride] = Field(default_factory=dict)
    gpu_workers: GroupOverride = GroupOverride()
    serve: dict[str, ServeOverride] = Field(default_factory=dict)
    idle_timeout_seconds: int = Field(default=60, ge=0)
    upscaling_mode: Literal["Default", "Aggressive", "Conservative"] = "Default"
    serve_haproxy: bool = False
    read_only_root_filesystem: bool = True
    storage: StorageValues = StorageValues()
    ingress: IngressValues
    monitoring: MonitoringValues = MonitoringValues()
    egress: EgressValues = EgressValues()
    operator_namespace: str = "kuberay-system"
    operator_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "kuberay-operator"}
    )
    existing_secret: str | None = None
    settings: dict[str, str] = Field(default_factory=dict)
    rayjob: RayJobValues = RayJobValues()
    migrations_ttl_seconds: int = Field(default=3600, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, "name")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return _dns_label(value, "namespace")

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.match(key):
                raise ValueError(f"settings key {key!r} is not an environment variable name")
            secret = key in SECRET_KEYS or key in STORAGE_SECRET_KEYS or key.startswith("RAY_AUTH")
            if secret or "PASSWORD" in key or "TOKEN" in key:
                raise ValueError(f"settings key {key!r} is secret: put it in the Secret")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Values:
        for where, o in [*self.workers.items(), ("gpu_workers", self.gpu_workers)]:
            low, high = o.min_replicas, o.max_replicas
            if low is not None and high is not None and low > high:
                raise ValueError(f"workers.{where}: min_replicas > max_replicas")
        return self

    @model_validator(mode="after")
    def _storage_reachable(self) -> Values:
        if self.storage.url and not self.egress.storage:
            raise ValueError(
                "egress.storage: say where object storage is (pods or a cidr, with ports): "
                "worker pods may reach nothing that is not listed"
            )
        return self

    @property
    def secret_name(self) -> str:
        """The Secret every pod reads (the rendered template, or one made out of band)."""
        return self.existing_secret or f"{self.name}-secrets"

    @property
    def config_name(self) -> str:
        """The ConfigMap of non-secret settings."""
        return f"{self.name}-config"


def load_values(path: str | Path) -> Values:
    """Read and validate a values file such as ``cluster/values/dev.yaml``."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return Values.model_validate(data)
