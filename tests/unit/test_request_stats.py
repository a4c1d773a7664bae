"""The per-organization request statistics behind /observability, and their time series."""

from __future__ import annotations

from raylane.serve.stats import BUCKET_S, RequestStats


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_series_has_one_point_per_minute_with_requests_errors_and_percentiles() -> None:
    clock = Clock(1_000_020.0)
    stats = RequestStats(clock=clock)
    for ms in [10, 20, 30, 40]:
        stats.record("org", ms / 1000, 200)
    clock.now += 2 * BUCKET_S  # a quiet minute in between: no point for it
    stats.record("org", 0.5, 503)
    stats.record("other", 9.0, 500)

    summary = stats.summary("org")

    first, second = summary["series"]
    assert first["start"] == 1_000_020 // BUCKET_S * BUCKET_S
    assert second["start"] == first["start"] + 2 * BUCKET_S
    assert (first["requests"], first["errors"], first["p50_ms"], first["p95_ms"]) == (4, 0, 30, 40)
    assert (second["requests"], second["errors"], second["p99_ms"]) == (1, 1, 500)
    assert summary["requests"] == 5 and summary["error_rate"] == 0.2
    assert summary["bucket_s"] == BUCKET_S


def test_an_organization_without_requests_has_an_empty_series() -> None:
    summary = RequestStats().summary("nobody")
    assert summary["series"] == [] and summary["requests"] == 0 and summary["p50_ms"] is None
