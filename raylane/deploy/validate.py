"""Offline validation of Kubernetes manifests: no cluster, no network.

* KubeRay kinds (``ray.io``): JSON Schema validation against the ``openAPIV3Schema`` of the
  matching served version in the KubeRay CRD files, with unknown fields rejected (as
  ``kubectl apply --validate=strict`` does), plus the checks the KubeRay operator makes on
  admission that a schema cannot express (replica bounds, autoscaler v2 settings,
  ``rayStartParams.resources`` format, ``serveConfigV2`` shape).
* Core kinds: the ``kubernetes-validate`` package's schemas for :data:`KUBERNETES_VERSION`,
  strict mode (unknown fields are errors).
* ``PodMonitor``: a minimal structural check (its CRD is not vendored here).

Every function returns a list of human-readable error strings; an empty list means valid.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30"
CRD_DIR_ENV = "RAYLANE_KUBERAY_CRDS"
KUBERAY_GROUP = "ray.io"
CORE_KINDS = frozenset(
    {
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    }
)
# RayService upgrade strategies KubeRay knows (the CRD leaves the field a free string).
UPGRADE_TYPES = ("NewCluster", "NewClusterWithIncrementalUpgrade", "None")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_MESSAGE = 300
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def default_crd_dir() -> Path:
    """``$RAYLANE_KUBERAY_CRDS``, else ``shared/kuberay-crds`` beside the repository checkout."""
    configured = os.environ.get(CRD_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2].parent / "shared" / "kuberay-crds"


def _closed(schema: Any) -> Any:
    """Copy of a CRD schema where objects with declared properties reject unknown fields."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _closed(value) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@lru_cache(maxsize=4)
def _crd_validators(crd_dir: str) -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    """(apiVersion, kind) -> validator, for every served version of every CRD in the folder."""
    validators: dict[tuple[str, str], jsonschema.Draft202012Validator] = {}
    files = sorted(Path(crd_dir).glob("*.yaml")) + sorted(Path(crd_dir).glob("*.yml"))
    for file in files:
        for doc in yaml.load_all(file.read_text(encoding="utf-8"), Loader=_Loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec.get("versions", []):
                if not version.get("served", True):
                    continue
                schema = _closed(version["schema"]["openAPIV3Schema"])
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                validators[key] = jsonschema.Draft202012Validator(schema)
    return validators


def _where(manifest: dict[str, Any]) -> str:
    metadata = manifest.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{manifest.get('kind', '?')}/{name or '?'}"


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "(root)"


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _check_metadata(manifest: dict[str, Any]) -> list[str]:
    # CRD schemas leave metadata open; the API server still validates it.
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict):
        return ["metadata: required object is missing"]
    errors = []
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    for field in ("labels", "annotations"):
        value = metadata.get(field, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.append(f"metadata.{field}: values must be strings")
    return errors


def _validate_kuberay(manifest: dict[str, Any], crd_dir: Path) -> list[str]:
    key = (manifest["apiVersion"], manifest["kind"])
    if not crd_dir.is_dir():
        return [f"KubeRay CRDs not found in {crd_dir}: set {CRD_DIR_ENV} or pass the CRD folder"]
    validator = _crd_validators(str(crd_dir.resolve())).get(key)
    if validator is None:
        return [f"no served CRD version for {key[1]} {key[0]} in {crd_dir}"]
    errors = _check_metadata(manifest)
    schema_errors = sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.path)))
    errors += [f"{_path(e.path)}: {_short(e.message)}" for e in schema_errors]
    if not schema_errors:
        errors += kuberay_semantic_errors(manifest)
    return errors


def _parse_resources_param(value: str) -> dict[str, Any]:
    # The autoscaler strips one pair of outer quotes and every backslash, then reads JSON.
    parsed = json.loads(value[1:-1].replace("\\", ""))
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in parsed.items()
    ):
        raise ValueError("must map resource names to integers")
    return parsed


def _cluster_specs(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    spec = manifest.get("spec", {})
    kind = manifest["kind"]
    if kind == "RayCluster":
        return [("spec", spec)]
    if kind == "RayService" and "rayClusterConfig" in spec:
        return [("spec.rayClusterConfig", spec["rayClusterConfig"])]
    if kind == "RayJob" and "rayClusterSpec" in spec:
        return [("spec.rayClusterSpec", spec["rayClusterSpec"])]
    return []


def _cluster_errors(where: str, cluster: dict[str, Any]) -> list[str]:
    errors = []
    names: set[str] = set()
    for i, group in enumerate(cluster.get("workerGroupSpecs", [])):
        at = f"{where}.workerGroupSpecs.{i}"
        low, high = group.get("minReplicas", 0), group.get("maxReplicas", 2**31 - 1)
        if low > high:
            errors.append(f"{at}: minReplicas {low} > maxReplicas {high}")
        replicas = group.get("replicas")
        if replicas is not None and not low <= replicas <= high:
            errors.append(f"{at}: replicas {replicas} outside [{low}, {high}]")
        if group["groupName"] in names:
            errors.append(f"{at}: duplicate groupName {group['groupName']!r}")
        names.add(group["groupName"])
        resources = group.get("rayStartParams", {}).get("resources")
        if resources is not None:
            try:
                _parse_resources_param(resources)
            except ValueError as exc:
                errors.append(f"{at}.rayStartParams.resources: unreadable by the autoscaler: {exc}")
    head = cluster["headGroupSpec"]["template"].get("spec", {})
    head_env = {e.get("name") for e in (head.get("containers") or [{}])[0].get("env", [])}
    version = cluster.get("autoscalerOptions", {}).get("version")
    if version is not None and "RAY_enable_autoscaler_v2" in head_env:
        errors.append(
            f"{where}: autoscalerOptions.version and head env RAY_enable_autoscaler_v2 "
            "are both set (KubeRay rejects this)"
        )
    v2 = version == "v2" or "RAY_enable_autoscaler_v2" in head_env
    restart = head.get("restartPolicy", "Never")
    if cluster.get("enableInTreeAutoscaling") and v2 and restart != "Never":
        errors.append(f"{where}.headGroupSpec: autoscaler v2 needs restartPolicy Never")
    return errors


def kuberay_semantic_errors(manifest: dict[str, Any]) -> list[str]:
    """Rules the KubeRay operator enforces that its CRD schema does not express."""
    errors = []
    for where, cluster in _cluster_specs(manifest):
        errors += _cluster_errors(where, cluster)
    upgrade = manifest.get("spec", {}).get("upgradeStrategy", {}).get("type")
    if manifest["kind"] == "RayService" and upgrade not in (None, *UPGRADE_TYPES):
        errors.append(f"spec.upgradeStrategy.type: {upgrade!r} is not one of {UPGRADE_TYPES}")
    if manifest["kind"] == "RayService" and "serveConfigV2" in manifest.get("spec", {}):
        try:
            config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
        except yaml.YAMLError as exc:
            return [*errors, f"spec.serveConfigV2: not YAML: {exc}"]
        if not isinstance(config, dict) or not isinstance(config.get("applications"), list):
            errors.append("spec.serveConfigV2: needs an 'applications' list")
    return errors


def _validate_core(manifest: dict[str, Any], kubernetes_version: str) -> list[str]:
    try:
        kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{_path(exc.path)}: {_short(exc.message)}"]
    except (
        kubernetes_validate.SchemaNotFoundError,
        kubernetes_validate.InvalidSchemaError,
        kubernetes_validate.VersionNotSupportedError,
    ) as exc:
        return [str(getattr(exc, "message", exc))]
    return []


def _validate_pod_monitor(manifest: dict[str, Any]) -> list[str]:
    errors = _check_metadata(manifest)
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        return [*errors, "spec: required object is missing"]
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        errors.append("spec.selector: needs matchLabels or matchExpressions")
    endpoints = spec.get("podMetricsEndpoints")
    if not isinstance(endpoints, list) or not endpoints:
        errors.append("spec.podMetricsEndpoints: needs at least one endpoint")
        return errors
    for i, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, dict) or not (
            endpoint.get("port") or endpoint.get("portNumber")
        ):
            errors.append(f"spec.podMetricsEndpoints.{i}: needs a port name or portNumber")
    return errors


def validate_manifest(
    manifest: Any,
    *,
    crd_dir: str | Path | None = None,
    kubernetes_version: str = KUBERNETES_VERSION,
) -> list[str]:
    """Errors of one manifest, each prefixed with ``Kind/name``."""
    if not isinstance(manifest, dict):
        return [f"not a mapping: {type(manifest).__name__}"]
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{_where(manifest)}: apiVersion and kind are required strings"]
    if api_version.split("/")[0] == KUBERAY_GROUP:
        folder = Path(crd_dir) if crd_dir is not None else default_crd_dir()
        errors = _validate_kuberay(manifest, folder)
    elif (api_version, kind) in CORE_KINDS:
        errors = _validate_core(manifest, kubernetes_version)
    elif (api_version, kind) == ("monitoring.coreos.com/v1", "PodMonitor"):
        errors = _validate_pod_monitor(manifest)
    else:
        errors = [f"unsupported kind {kind} ({api_version})"]
    return [f"{_where(manifest)}: {e}" for e in errors]


def validate_manifests(
    manifests: Iterable[Any],
    *,
    crd_dir: str | Path | None = None,
    kubernetes_version: str = KUBERNETES_VERSION,
) -> list[str]:
    """Errors of every manifest; also flags two objects of one kind sharing a name."""
    errors: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for manifest in manifests:
        errors += validate_manifest(
            manifest, crd_dir=crd_dir, kubernetes_version=kubernetes_version
        )
        if isinstance(manifest, dict) and isinstance(manifest.get("metadata"), dict):
            key = (
                str(manifest.get("kind")),
                str(manifest["metadata"].get("namespace", "")),
                str(manifest["metadata"].get("name")),
            )
            if key in seen:
                errors.append(f"{_where(manifest)}: defined twice")
            seen.add(key)
    return errors


def load_manifests(path: str | Path) -> list[Any]:
    """The non-empty documents of a (multi-document) YAML file."""
    text = Path(path).read_text(encoding="utf-8")
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def validate_files(
    paths: Iterable[str | Path],
    *,
    crd_dir: str | Path | None = None,
    kubernetes_version: str = KUBERNETES_VERSION,
) -> list[str]:
    """Errors of every manifest in every file, each prefixed with the file name."""
    errors: list[str] = []
    for path in paths:
        try:
            manifests = load_manifests(path)
        except (OSError, yaml.YAMLError) as exc:
            errors.append(f"{path}: cannot read: {exc}")
            continue
        if not manifests:
            errors.append(f"{path}: no manifests")
        found = validate_manifests(
            manifests, crd_dir=crd_dir, kubernetes_version=kubernetes_version
        )
        errors += [f"{path}: {e}" for e in found]
    return errors
