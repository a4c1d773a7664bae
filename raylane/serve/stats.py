"""Recent request outcomes per organization, kept by each API replica for /observability."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

WINDOW = 2048  # the last N requests per organization
BUCKET_S = 60  # the time series' step: one point per minute
SERIES_POINTS = 60  # at most the last hour of minutes that saw requests


def _pct(latencies: list[float], p: float) -> float:
    """The p-quantile (nearest rank) of sorted latencies in seconds, in milliseconds."""
    return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)


class RequestStats:
    def __init__(self, window: int = WINDOW, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: dict[str, deque[tuple[float, float, int]]] = defaultdict(
            lambda: deque(maxlen=window)
        )

    def record(self, organization: str, seconds: float, status: int) -> None:
        if organization:
            self._seen[organization].append((self._clock(), seconds, status))

    def summary(self, organization: str) -> dict[str, Any]:
        """Totals over the window, and ``series``: the same figures per minute (oldest first)
        for the minutes in the window that saw requests, so the console can chart them."""
        seen = list(self._seen.get(organization, ()))
        if not seen:
            return {
                "requests": 0,
                "error_rate": 0.0,
                "p50_ms": None,
                "p95_ms": None,
                "p99_ms": None,
                "window": WINDOW,
                "bucket_s": BUCKET_S,
                "series": [],
            }
        latencies = sorted(s for _, s, _ in seen)
        errors = sum(1 for _, _, status in seen if status >= 500)
        buckets: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for at, seconds, status in seen:
            buckets[int(at // BUCKET_S) * BUCKET_S].append((seconds, status))
        series = []
        for start in sorted(buckets)[-SERIES_POINTS:]:
            minute = buckets[start]
            ordered = sorted(s for s, _ in minute)
            series.append(
                {
                    "start": start,  # Unix seconds, the bucket's first second
                    "requests": len(minute),
                    "errors": sum(1 for _, status in minute if status >= 500),
                    "p50_ms": _pct(ordered, 0.5),
                    "p95_ms": _pct(ordered, 0.95),
                    "p99_ms": _pct(ordered, 0.99),
                }
            )
        return {
            "requests": len(seen),
            "error_rate": errors / len(seen),
            "p50_ms": _pct(latencies, 0.5),
            "p95_ms": _pct(latencies, 0.95),
            "p99_ms": _pct(latencies, 0.99),
            "window": WINDOW,
            "bucket_s": BUCKET_S,
            "series": series,
        }


REQUEST_STATS = RequestStats()
