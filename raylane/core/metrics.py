"""Raylane's domain metrics: counters that core code updates without knowing about HTTP.

The HTTP edge's own metrics live in ``raylane.serve.metrics``, which re-exports these, so
each metric name is registered exactly once per process. Names and labels are listed in
docs/observability.md and in ``raylane.core.cluster.metrics_catalog``.
"""

from __future__ import annotations

from prometheus_client import Counter

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
