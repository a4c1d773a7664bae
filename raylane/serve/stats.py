"""Recent request outcomes per organization, kept by each API replica for /observability."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

WINDOW = 2048  # the last N requests per organization


class RequestStats:
    def __init__(self, window: int = WINDOW) -> None:
        self._seen: dict[str, deque[tuple[float, int]]] = defaultdict(lambda: deque(maxlen=window))

    def record(self, organization: str, seconds: float, status: int) -> None:
        if organization:
            self._seen[organization].append((seconds, status))

    def summary(self, organization: str) -> dict[str, Any]:
        seen = list(self._seen.get(organization, ()))
        if not seen:
            return {
                "requests": 0,
                "error_rate": 0.0,
                "p50_ms": None,
                "p95_ms": None,
                "p99_ms": None,
                "window": WINDOW,
            }
        latencies = sorted(s for s, _ in seen)

        def pct(p: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

        errors = sum(1 for _, status in seen if status >= 500)
        return {
            "requests": len(seen),
            "error_rate": errors / len(seen),
            "p50_ms": pct(0.5),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "window": WINDOW,
        }


REQUEST_STATS = RequestStats()
