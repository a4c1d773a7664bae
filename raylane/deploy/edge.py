"""The network edge of a stack: Ingress, NetworkPolicies and the Prometheus PodMonitor.

Only the public API paths of the Serve HTTP port are reachable from outside the release
(through the ingress controller); ``/metrics`` and ``/api/health`` (organization ids, token
counts, dependency errors) and Ray's dashboard, GCS and client ports stay inside it.
"""

from __future__ import annotations

from raylane.deploy import pods
from raylane.deploy.pods import Manifest, meta, release_selector
from raylane.deploy.values import EgressPeer, Values

# Worker groups whose Serve replicas call an OpenAI-compatible LLM endpoint (egress.llm).
LLM_WORKLOADS = ("copilot-inference", "gpu")


# What the ingress routes, and nothing else: an allow-list, so a new internal endpoint is
# private until someone adds it here. Prefix matches whole path segments ("/v1" is not "/v1x").
PUBLIC_PATHS: tuple[tuple[str, str], ...] = (
    ("/api/v1", "Prefix"),  # the REST API
    ("/v1", "Prefix"),  # the OpenAI-compatible API
    ("/console", "Prefix"),  # the web console
    ("/docs", "Prefix"),  # API reference (Swagger UI) and its OpenAPI document
    ("/openapi.json", "Exact"),
)


def ingress(values: Values) -> Manifest:
    """HTTP from the ingress controller to the Serve port, for the public API paths only."""
    backend = {
        "service": {"name": pods.serve_service_name(values), "port": {"number": pods.SERVE_PORT}}
    }
    paths = [{"path": p, "pathType": kind, "backend": backend} for p, kind in PUBLIC_PATHS]
    spec: Manifest = {
        "ingressClassName": values.ingress.class_name,
        "rules": [{"host": values.ingress.host, "http": {"paths": paths}}],
    }
    if values.ingress.tls_secret:
        spec["tls"] = [{"hosts": [values.ingress.host], "secretName": values.ingress.tls_secret}]
    metadata = meta(values, values.name, "ingress")
    if values.ingress.annotations:
        metadata["annotations"] = dict(values.ingress.annotations)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


def _policy(
    values: Values, name: str, pod_selector: dict[str, str], rules: list[Manifest]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(values, f"{values.name}-{name}", "network-policy"),
        "spec": {
            "podSelector": {"matchLabels": pod_selector},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def _from_namespace(ns: str, pod_labels: dict[str, str] | None = None) -> Manifest:
    peer: Manifest = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def _tcp(*ports: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def network_policies(values: Values) -> list[Manifest]:
    """Deny by default; Ray ports only inside the release; Serve from the ingress controller.

    The dashboard (8265), GCS (6379) and client (10001) ports accept only pods of this release,
    plus the KubeRay operator on the head's dashboard (it deploys Serve config through it).
    """
    release = release_selector(values)
    ray_pods = {**release, "ray.io/is-ray-node": "yes"}
    head = {**release, "ray.io/node-type": "head"}
    policies = [
        _policy(values, "default-deny", release, []),
        _policy(
            values, "ray-internal", release, [{"from": [{"podSelector": {"matchLabels": release}}]}]
        ),
        _policy(
            values,
            "serve-from-ingress",
            ray_pods,
            [
                {
                    "from": [_from_namespace(values.ingress.controller_namespace)],
                    "ports": _tcp(pods.SERVE_PORT),
                }
            ],
        ),
        _policy(
            values,
            "dashboard-from-operator",
            head,
            [
                {
                    "from": [
                        _from_namespace(values.operator_namespace, values.operator_pod_labels)
                    ],
                    "ports": _tcp(pods.DASHBOARD_PORT, pods.SERVE_PORT),
                }
            ],
        ),
    ]
    policies += egress_policies(values)
    if values.monitoring.pod_monitor:
        policies.append(
            _policy(
                values,
                "metrics-from-monitoring",
                ray_pods,
                [
                    {
                        "from": [_from_namespace(values.monitoring.namespace)],
                        "ports": _tcp(pods.METRICS_PORT, pods.SERVE_PORT),
                    }
                ],
            )
        )
    return policies


def _peer(values: Values, peer: EgressPeer) -> Manifest:
    if peer.cidr is not None:
        return {"ipBlock": {"cidr": peer.cidr}}
    return _from_namespace(peer.namespace or values.namespace, peer.pod_labels)


def _egress_policy(
    values: Values, name: str, pod_selector: dict[str, str], rules: list[Manifest]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(values, f"{values.name}-{name}", "network-policy"),
        "spec": {
            "podSelector": {"matchLabels": pod_selector},
            "policyTypes": ["Egress"],
            "egress": rules,
        },
    }


def egress_policies(values: Values) -> list[Manifest]:
    """Worker pods (they parse tenants' untrusted files) reach only what Raylane needs.

    Allowed: the Ray pods of this release (head and other workers: GCS, object transfers),
    DNS, Postgres, Redis and object storage as the values say; the copilot groups may also
    reach the configured LLM endpoint. Anything else, the internet included, is refused.
    """
    workers = {**release_selector(values), "app.kubernetes.io/component": "ray-worker"}
    egress = values.egress
    rules: list[Manifest] = [
        {"to": [{"podSelector": {"matchLabels": release_selector(values)}}]},
        {
            "to": [_peer(values, egress.dns)],
            "ports": [
                {"protocol": proto, "port": port}
                for port in egress.dns.ports
                for proto in ("UDP", "TCP")
            ],
        },
    ]
    for peer in [*egress.postgres, *egress.redis, *egress.storage]:
        rules.append({"to": [_peer(values, peer)], "ports": _tcp(*peer.ports)})
    policies = [_egress_policy(values, "workers-egress", workers, rules)]
    for workload in LLM_WORKLOADS if egress.llm else ():
        policies.append(
            _egress_policy(
                values,
                f"{workload}-egress-llm",
                {**workers, "raylane.io/workload": workload},
                [{"to": [_peer(values, p)], "ports": _tcp(*p.ports)} for p in egress.llm],
            )
        )
    return policies


def pod_monitor(values: Values) -> Manifest:
    """Scrape Ray's metrics port on every Ray pod and the API's /metrics through the head proxy."""
    interval = values.monitoring.interval
    head_only = [
        {
            "action": "keep",
            "sourceLabels": ["__meta_kubernetes_pod_label_ray_io_node_type"],
            "regex": "head",
        }
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": meta(values, values.name, "monitoring"),
        "spec": {
            "selector": {"matchLabels": {**release_selector(values), "ray.io/is-ray-node": "yes"}},
            "namespaceSelector": {"matchNames": [values.namespace]},
            "podMetricsEndpoints": [
                {"port": "metrics", "path": "/metrics", "interval": interval},
                {
                    "port": "serve",
                    "path": "/metrics",
                    "interval": interval,
                    "relabelings": head_only,
                },
            ],
        },
    }
