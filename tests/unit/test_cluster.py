"""KubeRay deployment: workloads.yaml, rendered manifests, offline validation, CLI, dashboard."""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from raylane.cli.cluster import register
from raylane.config import Settings
from raylane.deploy import dashboard
from raylane.deploy.metrics_catalog import DASHBOARD_METRICS, metric_names
from raylane.deploy.render import render, render_rayjob, render_yaml
from raylane.deploy.validate import validate_files, validate_manifest, validate_manifests
from raylane.deploy.values import Values, load_values
from raylane.infra import runtime, workloads

ROOT = Path(__file__).parents[2]
CRD_DIR = Path(__file__).parents[2].parent / "shared" / "kuberay-crds"
needs_crds = pytest.mark.skipif(
    not CRD_DIR.is_dir(), reason=f"KubeRay CRDs not found at {CRD_DIR} (shared/ beside the repo)"
)
STACKS = ["dev", "production"]
INTERNAL_PORTS = {6379, 8265, 10001}


def values_of(stack: str) -> Values:
    return load_values(ROOT / "cluster" / "values" / f"{stack}.yaml")


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(values_of(request.param))


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


def cluster_specs(manifests: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for m in manifests:
        if m["kind"] == "RayService":
            yield m["spec"]["rayClusterConfig"]
        elif m["kind"] == "RayJob":
            yield m["spec"]["rayClusterSpec"]


def pod_specs(manifests: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for cluster in cluster_specs(manifests):
        yield cluster["headGroupSpec"]["template"]["spec"]
        for group in cluster["workerGroupSpecs"]:
            yield group["template"]["spec"]
    for m in manifests:
        if m["kind"] == "Job":
            yield m["spec"]["template"]["spec"]
        elif m["kind"] == "RayJob":
            yield m["spec"]["submitterPodTemplate"]["spec"]


def all_containers(manifests: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for spec in pod_specs(manifests):
        yield from spec["containers"]
    for cluster in cluster_specs(manifests):
        yield {"name": "autoscaler", **cluster["autoscalerOptions"]}


# --- workloads.yaml -------------------------------------------------------------------------


class TestWorkloads:
    def test_repo_and_packaged_copies_are_identical(self) -> None:
        repo = ROOT / "configs" / "workloads.yaml"
        packaged = ROOT / "raylane" / "configs" / "workloads.yaml"
        assert repo.read_bytes() == packaged.read_bytes()
        assert workloads.default_workloads_path() == workloads.REPO_WORKLOADS_FILE

    def test_every_workload_has_its_own_resource_and_ordered_bounds(self) -> None:
        spec = workloads.load_workloads()
        expected = {
            "api",
            "copilot-inference",
            "embeddings",
            "training",
            "agent-tests",
            "workflows",
        }
        assert set(spec.workloads) == expected
        resources = [w.resource for w in spec.workloads.values()]
        assert len(set(resources)) == len(resources)
        for w in spec.workloads.values():
            assert w.resource.startswith("workload_")
            assert w.scaling.min_replicas <= w.scaling.max_replicas
        for d in spec.serve.deployments.values():
            assert d.min_replicas <= d.max_replicas
        assert set(spec.serve.deployments) == {
            "ApiIngress",
            "Embedder",
            "LLM",
            "Copilot",
            "ModelServer",
            "EndpointRouter",
        }

    def test_head_declares_every_resource_in_bulk(self) -> None:
        spec = workloads.load_workloads()
        head = workloads.head_resources()
        assert set(head) == {w.resource for w in spec.workloads.values()}
        assert all(count >= 1000 for count in head.values())

    def test_task_resources_request_the_workload_resource(self) -> None:
        options = workloads.task_resources("embeddings")
        assert options["resources"] == {"workload_embeddings": 1}
        assert options["num_cpus"] > 0 and "num_gpus" not in options
        assert workloads.task_resources("training", gpu=True)["num_gpus"] >= 1
        with pytest.raises(ValueError, match="GPU group"):
            workloads.task_resources("api", gpu=True)
        with pytest.raises(KeyError, match="unknown workload"):
            workloads.task_resources("mining")

    def test_serve_options_carry_autoscaling_and_placement(self) -> None:
        options = workloads.serve_options("Embedder")
        assert options["autoscaling_config"]["min_replicas"] >= 1
        assert options["ray_actor_options"]["resources"] == {"workload_embeddings": 1}
        assert "num_gpus" not in workloads.serve_options("LLM")["ray_actor_options"]
        assert workloads.serve_options("LLM", gpu=True)["ray_actor_options"]["num_gpus"] == 1
        with pytest.raises(KeyError):
            workloads.serve_options("Nope")

    def test_every_autoscaling_config_is_one_serve_takes_without_warning(self) -> None:
        from ray.serve.config import AutoscalingConfig

        for name in workloads.load_workloads().serve.deployments:
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)
                AutoscalingConfig(**workloads.serve_options(name)["autoscaling_config"])
        api = workloads.serve_options("ApiIngress")["autoscaling_config"]
        assert api["look_back_period_s"] > api["metrics_interval_s"]
        serve_defaults = AutoscalingConfig()  # what an unset field means
        assert serve_defaults.look_back_period_s == workloads.SERVE_LOOK_BACK_S
        assert serve_defaults.metrics_interval_s == workloads.SERVE_METRICS_INTERVAL_S

    def test_a_window_no_longer_than_the_report_interval_is_refused(self) -> None:
        dep = workloads.load_workloads().serve.deployments["ApiIngress"].model_dump()
        with pytest.raises(ValueError, match="look_back_period_s"):
            workloads.ServeDeployment(**dep | {"look_back_period_s": 2, "metrics_interval_s": 2})
        with pytest.raises(ValueError, match="look_back_period_s"):
            workloads.ServeDeployment(**dep | {"look_back_period_s": 8, "metrics_interval_s": None})

    @pytest.mark.parametrize("run_id", ["x; rm -rf /", "", "a b", "$(id)", "-flag"])
    def test_job_entrypoint_refuses_anything_but_an_id(self, run_id: str) -> None:
        with pytest.raises(ValueError):
            workloads.job_entrypoint("ingest", run_id)

    def test_job_entrypoint_is_fixed_module(self) -> None:
        got = workloads.job_entrypoint("ingest", "0b5c8a1e-1234")
        assert got == "python -m raylane.jobs.ingest --run-id 0b5c8a1e-1234"

    def test_inverted_bounds_and_unknown_references_are_rejected(self, tmp_path: Path) -> None:
        data = yaml.safe_load((ROOT / "configs" / "workloads.yaml").read_text())
        data["workloads"]["api"]["scaling"] = {"min_replicas": 5, "max_replicas": 2}
        bad = tmp_path / "w.yaml"
        bad.write_text(yaml.safe_dump(data))
        with pytest.raises(ValueError, match="min_replicas"):
            workloads.load_workloads(bad)
        data = yaml.safe_load((ROOT / "configs" / "workloads.yaml").read_text())
        data["serve"]["deployments"]["LLM"]["workload"] = "nowhere"
        bad.write_text(yaml.safe_dump(data))
        with pytest.raises(ValueError, match="unknown workload"):
            workloads.load_workloads(bad)


# --- rendered manifests ---------------------------------------------------------------------


@needs_crds
def test_every_rendered_manifest_validates(stack: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = stack
    assert validate_manifests(manifests, crd_dir=CRD_DIR) == []


@needs_crds
@pytest.mark.parametrize("gpu", [True, False])
def test_both_gpu_settings_and_real_rayjobs_validate(gpu: bool) -> None:
    values = values_of("production").model_copy(update={"gpu": gpu})
    manifests = [*render(values), render_rayjob(values, job="train", run_id="r-1", gpu=gpu)]
    assert validate_manifests(manifests, crd_dir=CRD_DIR) == []


@pytest.mark.parametrize("name", STACKS)
def test_committed_rendered_files_are_fresh(name: str) -> None:
    source = f"cluster/values/{name}.yaml"
    fresh = render_yaml(load_values(ROOT / source), source=source)
    committed = (ROOT / "cluster" / "rendered" / f"{name}.yaml").read_text()
    assert committed == fresh, f"re-run: raylane cluster render --values {source} --out ..."


def test_ray_service_runs_the_serve_app_with_autoscaling(
    stack: tuple[str, list[dict[str, Any]]],
) -> None:
    name, manifests = stack
    values = values_of(name)
    service = one(manifests, "RayService")
    assert service["spec"]["upgradeStrategy"] == {"type": "NewCluster"}
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    (app,) = config["applications"]
    assert (app["name"], app["route_prefix"]) == ("raylane", "/")
    assert app["import_path"] == "raylane.serve.deployments:build_app"
    deployments = {d["name"]: d for d in app["deployments"]}
    assert set(deployments) == {
        "ApiIngress",
        "Embedder",
        "LLM",
        "Copilot",
        "ModelServer",
        "EndpointRouter",
    }
    for dep_name, dep in deployments.items():
        scaling = dep["autoscaling_config"]
        expected = workloads.serve_options(dep_name)["autoscaling_config"]
        override = values.serve[dep_name].model_dump(exclude_none=True)
        assert scaling == {**expected, **override}
        assert dep["num_replicas"] == "auto"  # overrides any fixed count set in code
    assert ("num_gpus" in deployments["LLM"]["ray_actor_options"]) is values.gpu


def test_serve_config_is_accepted_by_ray_serve(stack: tuple[str, list[dict[str, Any]]]) -> None:
    schema = pytest.importorskip("ray.serve.schema")
    config = yaml.safe_load(one(stack[1], "RayService")["spec"]["serveConfigV2"])
    schema.ServeDeploySchema.model_validate(config)


def test_one_autoscaled_worker_group_per_workload(stack: tuple[str, list[dict[str, Any]]]) -> None:
    name, manifests = stack
    spec = workloads.load_workloads()
    cluster = one(manifests, "RayService")["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["autoscalerOptions"]["version"] == "v2"
    assert cluster["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    for kind, workload in spec.workloads.items():
        group = groups[kind]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        raw = group["rayStartParams"]["resources"]
        advertised = json.loads(raw[1:-1].replace("\\", ""))  # the autoscaler's own parsing
        assert advertised == {workload.resource: workload.node.slots}
    gpu = groups.get(spec.gpu_group.name)
    if values_of(name).gpu:
        assert gpu is not None and gpu["minReplicas"] == 0
        limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) >= 1
    else:
        assert gpu is None


def test_head_schedules_nothing(stack: tuple[str, list[dict[str, Any]]]) -> None:
    for cluster in cluster_specs(stack[1]):
        assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_ray_token_comes_from_the_secret(stack: tuple[str, list[dict[str, Any]]]) -> None:
    manifests = stack[1]
    secret = one(manifests, "Secret")
    assert set(secret["stringData"]) >= {
        "RAYLANE_DATABASE_URL",
        "RAYLANE_DATABASE_OWNER_URL",
        "RAYLANE_REDIS_URL",
        "RAYLANE_SECRET_KEY",
        "auth_token",
    }
    assert all("REPLACE_ME" in v for v in secret["stringData"].values())
    for cluster in cluster_specs(manifests):
        assert cluster["authOptions"] == {"mode": "token", "secretName": secret["metadata"]["name"]}
        ray_pods = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
        for container in [p["template"]["spec"]["containers"][0] for p in ray_pods]:
            env = {e["name"]: e for e in container["env"]}
            assert env["RAY_AUTH_MODE"]["value"] == "token"
            ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": secret["metadata"]["name"], "key": "auth_token"}
            assert "RAYLANE_DATABASE_OWNER_URL" not in env  # only the migrations Job gets it


def test_no_container_runs_as_root(stack: tuple[str, list[dict[str, Any]]]) -> None:
    manifests = stack[1]
    for spec in pod_specs(manifests):
        assert spec["securityContext"]["runAsNonRoot"] is True
    checked = 0
    for container in all_containers(manifests):
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0, container["name"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc.get("privileged") is not True
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["limits"]["memory"], container["name"]
        checked += 1
    assert checked >= 10


def test_internal_ray_ports_are_never_exposed(stack: tuple[str, list[dict[str, Any]]]) -> None:
    manifests = stack[1]
    service = one(manifests, "RayService")["spec"]
    services = [m["spec"] for m in manifests if m["kind"] == "Service"]
    services.append(service["serveService"]["spec"])
    for svc in services:
        ports = {p["port"] for p in svc["ports"]} | {p.get("targetPort") for p in svc["ports"]}
        if svc.get("type") in {"LoadBalancer", "NodePort"}:
            assert not ports & INTERNAL_PORTS
    assert {p["port"] for p in service["serveService"]["spec"]["ports"]} == {8000}
    assert service["rayClusterConfig"]["headGroupSpec"]["serviceType"] == "ClusterIP"
    ingress = one(manifests, "Ingress")
    backends = [
        p["backend"]["service"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]
    ]
    assert backends and all(
        b == {"name": service["serveService"]["metadata"]["name"], "port": {"number": 8000}}
        for b in backends
    )


def _routed(ingress: dict[str, Any], path: str) -> bool:
    """Whether the Ingress sends ``path`` to a backend (Kubernetes' Prefix/Exact semantics)."""
    for rule in ingress["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            if p["pathType"] == "Exact" and path == p["path"]:
                return True
            prefix = p["path"].rstrip("/")
            if p["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
                return True
    return False


def test_ingress_routes_only_the_public_api(stack: tuple[str, list[dict[str, Any]]]) -> None:
    ingress = one(stack[1], "Ingress")
    assert "defaultBackend" not in ingress["spec"]
    for internal in ["/", "/metrics", "/api/health", "/healthz", "/-/routes", "/api"]:
        assert not _routed(ingress, internal), internal
    for public in ["/api/v1/projects", "/v1/chat/completions", "/docs", "/openapi.json"]:
        assert _routed(ingress, public), public
    for rule in ingress["spec"]["rules"]:
        assert all(p["pathType"] in {"Prefix", "Exact"} for p in rule["http"]["paths"])


def test_worker_groups_reach_only_listed_destinations(
    stack: tuple[str, list[dict[str, Any]]],
) -> None:
    name, manifests = stack
    values = values_of(name)
    release = {"app.kubernetes.io/instance": values.name}
    egress = [
        m
        for m in manifests
        if m["kind"] == "NetworkPolicy" and "Egress" in m["spec"]["policyTypes"]
    ]
    # Every worker group's pods, the ingest (embeddings) group first among them, are selected.
    for cluster in cluster_specs(manifests):
        for group in cluster["workerGroupSpecs"]:
            pod = group["template"]["metadata"]["labels"]
            selecting = [
                p for p in egress if p["spec"]["podSelector"]["matchLabels"].items() <= pod.items()
            ]
            assert selecting, group["groupName"]
    allowed = {json.dumps({"podSelector": {"matchLabels": release}}, sort_keys=True)}
    e = values.egress
    for peer in [e.dns, *e.postgres, *e.redis, *e.storage, *e.llm]:
        if peer.cidr:
            allowed.add(json.dumps({"ipBlock": {"cidr": peer.cidr}}, sort_keys=True))
        else:
            ns = {"kubernetes.io/metadata.name": peer.namespace or values.namespace}
            allowed.add(
                json.dumps(
                    {
                        "namespaceSelector": {"matchLabels": ns},
                        "podSelector": {"matchLabels": peer.pod_labels},
                    },
                    sort_keys=True,
                )
            )
    for policy in egress:
        for rule in policy["spec"]["egress"]:
            assert rule.get("to"), "a rule without `to` allows every destination"
            for peer in rule["to"]:
                assert json.dumps(peer, sort_keys=True) in allowed, peer
                assert peer.get("ipBlock", {}).get("cidr") not in {"0.0.0.0/0", "::/0"}
            if rule["to"] != [{"podSelector": {"matchLabels": release}}]:
                assert rule["ports"], "outside the release, only named ports"
    dns = [
        r
        for p in egress
        for r in p["spec"]["egress"]
        if {"port": 53, "protocol": "UDP"} in r.get("ports", [])
    ]
    assert dns


def test_values_refuse_unlisted_storage_and_open_egress() -> None:
    with pytest.raises(ValueError, match=r"egress\.storage"):
        Values.model_validate({"ingress": {"host": "h"}, "storage": {"url": "s3://b/p"}})
    with pytest.raises(ValueError, match="whole internet"):
        Values.model_validate(
            {"ingress": {"host": "h"}, "egress": {"llm": [{"cidr": "0.0.0.0/0", "ports": [443]}]}}
        )


def test_network_policies_keep_ray_ports_inside_the_release(
    stack: tuple[str, list[dict[str, Any]]],
) -> None:
    name, manifests = stack
    values = values_of(name)
    release = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": values.name}}}
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    assert any(p["spec"].get("ingress") == [] for p in policies)  # default deny
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if rule["from"] == [release]:
                continue  # pods of this release may reach every port
            ports = {p["port"] for p in rule["ports"]}  # outsiders always get an explicit list
            assert not ports & {6379, 10001}, policy["metadata"]["name"]
            if 8265 in ports:
                peer = rule["from"][0]
                assert peer["namespaceSelector"]["matchLabels"] == {
                    "kubernetes.io/metadata.name": values.operator_namespace
                }
                assert policy["spec"]["podSelector"]["matchLabels"]["ray.io/node-type"] == "head"
    ingress_rules = [
        rule
        for p in policies
        for rule in p["spec"].get("ingress", [])
        if rule["from"][0].get("namespaceSelector", {}).get("matchLabels")
        == {"kubernetes.io/metadata.name": values.ingress.controller_namespace}
    ]
    assert [r["ports"] for r in ingress_rules] == [[{"protocol": "TCP", "port": 8000}]]


def test_migrations_job_and_rayjob_template(stack: tuple[str, list[dict[str, Any]]]) -> None:
    name, manifests = stack
    values = values_of(name)
    job = one(manifests, "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["raylane", "db", "upgrade"]
    assert "RAYLANE_DATABASE_OWNER_URL" in {e["name"] for e in container["env"]}
    (template,) = [m for m in manifests if m["kind"] == "RayJob"]
    spec = template["spec"]
    assert spec["suspend"] is True and spec["shutdownAfterJobFinishes"] is True
    assert re.fullmatch(r"python -m raylane\.jobs\.\w+ --run-id \S+", spec["entrypoint"])
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["image"] == values.image == "raylane:0.1.0"
    real = render_rayjob(values, job="ingest", run_id="abc-123")
    assert "suspend" not in real["spec"]
    assert real["spec"]["entrypoint"] == "python -m raylane.jobs.ingest --run-id abc-123"
    assert json.loads(real["spec"]["entrypointResources"]) == {"workload_embeddings": 1}


def test_config_map_carries_region_and_no_secrets(stack: tuple[str, list[dict[str, Any]]]) -> None:
    name, manifests = stack
    data = one(manifests, "ConfigMap")["data"]
    assert data["RAYLANE_ENV"] == "production"
    assert data["RAYLANE_REGION"] == values_of(name).region
    assert not any("DATABASE" in k or "SECRET" in k or "TOKEN" in k for k in data)


def test_pods_and_the_local_head_start_serve_with_the_same_switches(
    stack: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, manifests = stack
    data = one(manifests, "ConfigMap")["data"]
    assert {k: data[k] for k in runtime.SERVE_ENV} == runtime.SERVE_ENV
    assert data["RAY_SERVE_HAPROXY_METRICS_ENABLED"] == "0"  # the API's own metrics count
    settings = Settings(env="test", secret_key="k" * 40, data_dir=tmp_path)
    for key in runtime.SERVE_ENV:
        monkeypatch.delenv(key, raising=False)
    assert runtime.ray_env(settings).items() >= runtime.SERVE_ENV.items()
    monkeypatch.setenv("RAY_SERVE_HAPROXY_METRICS_ENABLED", "1")  # an operator's value wins
    assert runtime.ray_env(settings)["RAY_SERVE_HAPROXY_METRICS_ENABLED"] == "1"


def test_the_local_deploy_and_the_ray_service_name_the_same_app(
    stack: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = stack
    (service,) = [m for m in manifests if m["kind"] == "RayService"]
    (app,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    assert (app["name"], app["route_prefix"]) == (
        workloads.serve_app().app_name,
        workloads.serve_app().route_prefix,
    )


def test_values_refuse_secrets_in_settings_and_unknown_overrides() -> None:
    with pytest.raises(ValueError, match="secret"):
        Values.model_validate({"ingress": {"host": "h"}, "settings": {"RAYLANE_SECRET_KEY": "x"}})
    values = Values.model_validate({"ingress": {"host": "h"}, "workers": {"mining": {}}})
    with pytest.raises(KeyError, match="unknown workload"):
        render(values)


# --- validation fails on broken manifests ---------------------------------------------------


@needs_crds
class TestValidationCatchesMistakes:
    def ray_service(self) -> dict[str, Any]:
        return copy.deepcopy(one(render(values_of("dev")), "RayService"))

    def test_string_replica_count(self) -> None:
        broken = self.ray_service()
        broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplicas"] = "two"
        errors = validate_manifest(broken, crd_dir=CRD_DIR)
        assert any("minReplicas" in e and "integer" in e for e in errors), errors

    def test_missing_cluster_config(self) -> None:
        broken = self.ray_service()
        del broken["spec"]["rayClusterConfig"]
        errors = validate_manifest(broken, crd_dir=CRD_DIR)
        assert any("rayClusterConfig" in e for e in errors), errors

    def test_unknown_field_in_a_custom_resource(self) -> None:
        broken = self.ray_service()
        broken["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParam"] = {}
        assert validate_manifest(broken, crd_dir=CRD_DIR)

    def test_operator_rules_beyond_the_schema(self) -> None:
        broken = self.ray_service()
        group = broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
        group["minReplicas"], group["maxReplicas"] = 5, 2
        group["rayStartParams"]["resources"] = '{"workload_api": 1}'
        head = broken["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
        head["containers"][0]["env"].append({"name": "RAY_enable_autoscaler_v2", "value": "1"})
        broken["spec"]["upgradeStrategy"]["type"] = "BlueGreen"
        errors = " | ".join(validate_manifest(broken, crd_dir=CRD_DIR))
        assert "minReplicas 5 > maxReplicas 2" in errors
        assert "unreadable by the autoscaler" in errors
        assert "RAY_enable_autoscaler_v2" in errors
        assert "upgradeStrategy.type" in errors

    def test_deployment_with_unknown_field(self) -> None:
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1"}]},
                },
            },
        }
        assert validate_manifest(deployment) == []
        deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
        errors = validate_manifest(deployment)
        assert errors and "imagePullPolicyy" in errors[0]

    def test_unsupported_kind_and_broken_pod_monitor(self) -> None:
        assert validate_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
        monitor = copy.deepcopy(one(render(values_of("production")), "PodMonitor"))
        monitor["spec"]["podMetricsEndpoints"] = []
        assert validate_manifest(monitor)

    def test_missing_crds_fail_closed(self, tmp_path: Path) -> None:
        errors = validate_manifest(self.ray_service(), crd_dir=tmp_path / "absent")
        assert errors and "CRDs not found" in errors[0]


# --- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def test_cli_render_to_stdout_and_file(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["cluster", "render"])  # default: cluster/values/dev.yaml
    assert result.exit_code == 0, result.output
    assert result.stdout == (ROOT / "cluster" / "rendered" / "dev.yaml").read_text()
    out = tmp_path / "prod.yaml"
    args = ["cluster", "render", "--values", "cluster/values/production.yaml", "--out", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert out.read_text() == (ROOT / "cluster" / "rendered" / "production.yaml").read_text()


def test_cli_render_reports_bad_values(cli: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ingress: {host: h}\nworkers: {api: {min_replicas: 3, max_replicas: 1}}\n")
    result = CliRunner().invoke(cli, ["cluster", "render", "--values", str(bad)])
    assert result.exit_code == 1 and "min_replicas" in result.output


@needs_crds
def test_cluster_validate_passes_rendered_stacks_and_fails_a_broken_one(
    cli: typer.Typer, tmp_path: Path
) -> None:
    files = [str(ROOT / "cluster" / "rendered" / f"{s}.yaml") for s in STACKS]
    result = CliRunner().invoke(cli, ["cluster", "validate", *files, "--crds", str(CRD_DIR)])
    assert result.exit_code == 0, result.output
    broken = tmp_path / "broken.yaml"
    service = one(render(values_of("dev")), "RayService")
    service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplicas"] = "two"
    broken.write_text(yaml.safe_dump(service))
    result = CliRunner().invoke(cli, ["cluster", "validate", str(broken), "--crds", str(CRD_DIR)])
    assert result.exit_code == 1 and "minReplicas" in result.output
    assert validate_files([broken], crd_dir=CRD_DIR)


# --- dashboard and metrics catalogue ---------------------------------------------------------


def test_committed_dashboard_is_fresh() -> None:
    committed = (ROOT / "cluster" / "grafana" / "raylane-dashboard.json").read_text()
    assert committed == dashboard.dashboard_json()
    assert len(json.loads(committed)["panels"]) >= 10


def test_dashboard_reads_only_catalogued_metrics() -> None:
    known = metric_names()
    used = set()
    for expr in dashboard.queries():
        for token in re.findall(r"\b(?:raylane|ray)_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", token)
            assert base in known, f"{token} in {expr!r} is not in DASHBOARD_METRICS"
            used.add(base)
    assert used == known
    assert all(m.description and m.labels for m in DASHBOARD_METRICS)


def test_deployment_doc_names_every_workload_and_metric() -> None:
    doc = (ROOT / "docs" / "deployment.md").read_text()
    spec = workloads.load_workloads()
    for kind, workload in spec.workloads.items():
        assert f"`{kind}`" in doc and f"`{workload.resource}`" in doc, kind
    for metric in DASHBOARD_METRICS:
        assert f"`{metric.name}`" in doc, metric.name
