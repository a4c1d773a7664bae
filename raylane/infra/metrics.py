"""Raylane's domain metrics: counters that core code updates without knowing about HTTP.

The HTTP edge's own metrics live in ``raylane.serve.metrics``, which re-exports these, so
each metric name is registered exactly once per process. Names and labels are listed in
docs/observability.md and in ``raylane.deploy.metrics_catalog``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Labels stay bounded: ten detectors x three actions x three stages, never a tenant or a text.
GUARDRAIL_HITS = Counter(
    "raylane_guardrail_hits",
    "Guardrail detections, by detector, action taken (block, redact, flag) and stage.",
    ["detector", "action", "stage"],
)

LLM_TOKENS = Counter(
    "raylane_llm_tokens",
    "LLM tokens by organization and direction (input = prompt, output = completion).",
    ["organization", "direction"],
)

# Refreshed from Postgres when /metrics is scraped: the runs' truth lives in the database,
# not in whichever process last touched them.
RUNS = Gauge("raylane_runs", "Runs in each state, by run kind and status.", ["kind", "status"])
RUN_QUEUE_DEPTH = Gauge(
    "raylane_run_queue_depth", "Runs waiting to be submitted to Ray, by run kind.", ["kind"]
)

# Endpoints: one series per endpoint and version it served (ids and version numbers, bounded by
# what a tenant registers), kept in the API process that serves /metrics. The windows a
# rollout's analysis reads are in Redis (``core.endpoints.stats``).
ENDPOINT_REQUESTS = Counter(
    "raylane_endpoint_requests",
    "Requests answered through an endpoint, by endpoint, version and outcome (ok, error).",
    ["endpoint", "version", "outcome"],
)
ENDPOINT_SECONDS = Histogram(
    "raylane_endpoint_request_seconds",
    "Latency of requests through an endpoint (a chat's until its last event), by version.",
    ["endpoint", "version"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ENDPOINT_BLOCKS = Counter(
    "raylane_endpoint_guardrail_blocks",
    "Chats through an endpoint refused by guardrails, by endpoint and version.",
    ["endpoint", "version"],
)
ENDPOINT_TOKENS = Counter(
    "raylane_endpoint_tokens",
    "LLM tokens (prompt and completion) of chats through an endpoint, by endpoint and version.",
    ["endpoint", "version"],
)
