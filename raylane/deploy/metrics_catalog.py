"""The metrics the Grafana dashboard reads: one list, used by the dashboard, the docs and tests.

Raylane's own metrics are exported by the platform; the ``ray_*`` ones are Ray's system
metrics (scraped from the metrics export port, 8080, on every Ray pod).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MetricSpec:
    """One Prometheus metric: name (without ``_bucket``/``_sum``/``_count``), type, labels."""

    name: str
    type: Literal["counter", "gauge", "histogram"]
    labels: tuple[str, ...]
    description: str


DASHBOARD_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "raylane_http_requests_total",
        "counter",
        ("route", "method", "status", "organization"),
        "HTTP requests answered by the API, by route template, method, status and tenant.",
    ),
    MetricSpec(
        "raylane_http_request_duration_seconds",
        "histogram",
        ("route", "method"),
        "Latency of API requests from receipt to response, by route template and method.",
    ),
    MetricSpec(
        "raylane_rate_limited_total",
        "counter",
        ("scope",),
        "Requests refused with 429 by the rate limiter, by scope (api key or organization).",
    ),
    MetricSpec(
        "raylane_runs",
        "gauge",
        ("kind", "status"),
        "Runs in each state (queued, running, succeeded, failed, cancelled...), by run kind.",
    ),
    MetricSpec(
        "raylane_run_queue_depth",
        "gauge",
        ("kind",),
        "Runs waiting to be submitted to or started by Ray, by run kind.",
    ),
    MetricSpec(
        "raylane_llm_tokens_total",
        "counter",
        ("organization", "direction"),
        "LLM tokens processed, by tenant and direction (prompt or completion).",
    ),
    MetricSpec(
        "raylane_guardrail_hits_total",
        "counter",
        ("detector", "action", "stage"),
        "Guardrail detections, by detector, action taken (block, redact, flag) and stage.",
    ),
    MetricSpec(
        "raylane_canary_weight",
        "gauge",
        ("model", "version"),
        "Share of traffic (0-1) the model router sends to each model version.",
    ),
    MetricSpec(
        "ray_resources",
        "gauge",
        ("Name", "State", "InstanceId"),
        "Ray logical resources per node, by resource name (CPU, GPU, ...) and USED/AVAILABLE.",
    ),
    MetricSpec(
        "ray_node_cpu_utilization",
        "gauge",
        ("InstanceId",),
        "Physical CPU utilisation of each Ray node, in percent.",
    ),
    MetricSpec(
        "ray_node_gpus_utilization",
        "gauge",
        ("InstanceId", "GpuIndex"),
        "Physical utilisation of each GPU of each Ray node, in percent.",
    ),
    MetricSpec(
        "ray_cluster_active_nodes",
        "gauge",
        ("node_type",),
        "Ray nodes alive, by node type (worker group), as seen by the autoscaler.",
    ),
)


# Catalogued for the dashboard but not exported yet: the canary model router is not built.
PLANNED: frozenset[str] = frozenset({"raylane_canary_weight"})


def metric_names() -> frozenset[str]:
    """Names of the catalogued metrics."""
    return frozenset(m.name for m in DASHBOARD_METRICS)
