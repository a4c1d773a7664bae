"""The Grafana dashboard (``cluster/grafana/raylane-dashboard.json``), generated from code.

Every query reads only metrics from :data:`~raylane.deploy.metrics_catalog.DASHBOARD_METRICS`,
so the dashboard and the catalogue cannot drift apart (a unit test checks both).
"""

from __future__ import annotations

import json
from typing import Any

DASHBOARD_UID = "raylane-overview"
_DS = {"type": "prometheus", "uid": "${datasource}"}
_RATE = "[$__rate_interval]"

# (title, unit, [(PromQL, legend)]) — laid out two panels per row.
_PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "Request rate by route and status",
        "reqps",
        [
            (
                f"sum by (route, status) (rate(raylane_http_requests_total{_RATE}))",
                "{{route}} {{status}}",
            )
        ],
    ),
    (
        "Latency p50 / p99 by route",
        "s",
        [
            (
                "histogram_quantile(0.5, sum by (le, route) "
                f"(rate(raylane_http_request_duration_seconds_bucket{_RATE})))",
                "p50 {{route}}",
            ),
            (
                "histogram_quantile(0.99, sum by (le, route) "
                f"(rate(raylane_http_request_duration_seconds_bucket{_RATE})))",
                "p99 {{route}}",
            ),
        ],
    ),
    (
        "4xx / 5xx rate",
        "reqps",
        [
            (
                f'sum by (route) (rate(raylane_http_requests_total{{status=~"4.."}}{_RATE}))',
                "4xx {{route}}",
            ),
            (
                f'sum by (route) (rate(raylane_http_requests_total{{status=~"5.."}}{_RATE}))',
                "5xx {{route}}",
            ),
        ],
    ),
    (
        "Rate-limit hits",
        "reqps",
        [(f"sum by (scope) (rate(raylane_rate_limited_total{_RATE}))", "{{scope}}")],
    ),
    (
        "Runs by kind and status",
        "short",
        [("sum by (kind, status) (raylane_runs)", "{{kind}} {{status}}")],
    ),
    (
        "Run queue depth",
        "short",
        [("sum by (kind) (raylane_run_queue_depth)", "{{kind}}")],
    ),
    (
        "LLM tokens",
        "short",
        [
            (
                f"sum by (direction) (rate(raylane_llm_tokens_total{_RATE}))",
                "{{direction}}",
            ),
            (
                f"topk(5, sum by (organization) (rate(raylane_llm_tokens_total{_RATE})))",
                "org {{organization}}",
            ),
        ],
    ),
    (
        "Guardrail hits by detector and action",
        "ops",
        [
            (
                f"sum by (detector, action) (rate(raylane_guardrail_hits_total{_RATE}))",
                "{{detector}} {{action}}",
            )
        ],
    ),
    (
        "Canary weights",
        "percentunit",
        [("max by (model, version) (raylane_canary_weight)", "{{model}} {{version}}")],
    ),
    (
        "Ray cluster CPU / GPU used",
        "short",
        [
            ('sum(ray_resources{Name="CPU", State="USED"})', "CPU used"),
            ('sum(ray_resources{Name="CPU"})', "CPU total"),
            ('sum(ray_resources{Name="GPU", State="USED"})', "GPU used"),
            ('sum(ray_resources{Name="GPU"})', "GPU total"),
        ],
    ),
    (
        "Ray node utilisation",
        "percent",
        [
            ("avg(ray_node_cpu_utilization)", "CPU (avg over nodes)"),
            ("avg(ray_node_gpus_utilization)", "GPU (avg over GPUs)"),
        ],
    ),
    (
        "Ray nodes by worker group",
        "short",
        [("sum by (node_type) (ray_cluster_active_nodes)", "{{node_type}}")],
    ),
]


def _panel(index: int, title: str, unit: str, queries: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": dict(_DS),
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": dict(_DS),
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def build_dashboard() -> dict[str, Any]:
    """The dashboard model Grafana imports (schema 39, a Prometheus datasource variable)."""
    return {
        "uid": DASHBOARD_UID,
        "title": "Raylane",
        "description": "API traffic, runs, LLM usage, guardrails, canaries and Ray capacity.",
        "tags": ["raylane", "ray"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": [_panel(i, *spec) for i, spec in enumerate(_PANELS)],
    }


def dashboard_json() -> str:
    """The committed file's exact text."""
    return json.dumps(build_dashboard(), indent=2) + "\n"


def queries() -> list[str]:
    """Every PromQL expression in the dashboard (for checks against the metrics catalogue)."""
    return [expr for _, _, targets in _PANELS for expr, _ in targets]
