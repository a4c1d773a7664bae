"""Raylane's domain metrics: counters that core code updates without knowing about HTTP.

The HTTP edge's own metrics live in ``raylane.serve.metrics``, which re-exports these, so
each metric name is registered exactly once per process. Names and labels are listed in
docs/observability.md and in ``raylane.deploy.metrics_catalog``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
