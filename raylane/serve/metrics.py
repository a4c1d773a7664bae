"""Raylane's own Prometheus metrics (names are listed in docs/observability.md)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from raylane.infra.metrics import GUARDRAIL_HITS

__all__ = ["GUARDRAIL_HITS", "HTTP_LATENCY", "HTTP_REQUESTS", "RATE_LIMITED"]

HTTP_REQUESTS = Counter(
    "raylane_http_requests",
    "HTTP requests by route template, method, status and organization.",
    ["route", "method", "status", "organization"],
)
HTTP_LATENCY = Histogram(
    "raylane_http_request_duration_seconds",
    "HTTP request latency by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = Counter(
    "raylane_rate_limited", "Requests refused by a rate limit or quota.", ["scope"]
)

# Known label values start at zero, so dashboards and alerts see the series before the first hit.
for _scope in ("key", "org", "tokens"):
    RATE_LIMITED.labels(scope=_scope)
