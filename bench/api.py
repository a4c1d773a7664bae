"""GET /api/v1/projects through the Serve app vs the same FastAPI app under plain uvicorn.

* ``uvicorn`` (baseline): ``uvicorn --factory raylane.serve.app:create_app --workers <CPUs>``,
  a competent user's production setting, with Ray stopped.
* ``serve`` (platform): the Serve app as ``make run`` deploys it (``runtime.start_ray`` with
  the shipped head resources, every deployment: ApiIngress, Embedder, LLM, Copilot), shipped
  autoscaling (ApiIngress min 1, target 8 ongoing requests). Ray is stopped again before a
  uvicorn point, so neither side runs beside the other's idle processes.

Both sides use the same embedded Postgres and Redis (migrated once, 20 projects) and the same
platform-admin key. The only override of the shipped settings is the rate limit (raised on both
sides: at thousands of requests per second from one key the shipped limit would answer 429).

wrk (closed loop, C, so it leaves the CPUs to the servers) drives 1 and 16 concurrent clients,
``--seconds`` per point after a 2 s warm-up. Rounds alternate the order (uvicorn first in odd
rounds, serve first in even ones); each figure is the median of the rounds with its min-max.
During each serve point the ApiIngress replica count (RUNNING, from Serve's status API) is
sampled and printed. Any wrk socket error, timeout or non-2xx response exits non-zero.

Last line: ``api_ratio=<serve req/s / uvicorn req/s at 16 clients> added_p50_ms=<serve p50 -
uvicorn p50 at 1 client>``. Goals: ``api_ratio`` >= 0.8, ``added_p50_ms`` <= 2.

    .venv/bin/python bench/api.py [--seconds 8] [--rounds 3]    (--quick: 1 round of 3 s)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    Load,
    load_average,
    median_spread,
    platform_env,
    serve_replicas,
    stop_platform_ray,
    uvicorn_app,
    wait_serve_app,
    wrk,
)

CLIENTS = (1, 16)
SETTLE_S = 10


class ReplicaSampler:
    """Samples the ApiIngress replica count every half second while a point runs."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.counts.append(serve_replicas("ApiIngress"))
            self._stop.wait(0.5)

    def __enter__(self) -> ReplicaSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    base: str, headers: dict[str, str], seconds: int
) -> dict[int, tuple[Load, list[int] | None]]:
    out: dict[int, tuple[Load, list[int] | None]] = {}
    for clients in CLIENTS:
        url = f"{base}/api/v1/projects?limit=20"
        wrk(url, clients=clients, seconds=2, headers=headers, strict=False)  # warm-up
        out[clients] = (wrk(url, clients=clients, seconds=seconds, headers=headers), None)
    return out


def measure_serve(
    base: str, headers: dict[str, str], seconds: int
) -> dict[int, tuple[Load, list[int] | None]]:
    out: dict[int, tuple[Load, list[int] | None]] = {}
    for clients in CLIENTS:
        url = f"{base}/api/v1/projects?limit=20"
        wrk(url, clients=clients, seconds=2, headers=headers, strict=False)  # warm-up
        with ReplicaSampler() as sampler:
            load = wrk(url, clients=clients, seconds=seconds, headers=headers)
        out[clients] = (load, sampler.counts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8, help="seconds per point")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (>= 3)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="uvicorn workers (CPUs)"
    )
    parser.add_argument("--quick", action="store_true", help="one round of 3 s points")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 3
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk (Debian package 'wrk')")
    print(f"start: {load_average()}", flush=True)
    results: dict[tuple[str, int], list[Load]] = {}
    replicas: dict[int, list[int]] = {c: [] for c in CLIENTS}
    with platform_env() as bench:
        from raylane.client import Client
        from raylane.config import get_settings
        from raylane.infra import runtime
        from raylane.serve.deploy import deploy

        settings = get_settings()
        headers = {"Authorization": f"Bearer {bench.admin_key}"}
        seeded = False
        serve_url: str | None = None
        try:
            for i in range(args.rounds):
                order = ("uvicorn", "serve") if i % 2 == 0 else ("serve", "uvicorn")
                for side in order:
                    if side == "uvicorn":
                        if serve_url is not None:
                            stop_platform_ray()
                            serve_url = None
                        with uvicorn_app(bench.env, workers=args.workers) as url:
                            if not seeded:
                                with Client(url, bench.admin_key) as c:
                                    for n in range(20):
                                        c.projects.create(name=f"bench-{n}", description="x" * 100)
                                seeded = True
                            got = measure(url, headers, args.seconds)
                    else:
                        if serve_url is None:
                            runtime.start_ray(settings)  # as `raylane up` (make run) does
                            serve_url = deploy(settings)
                            wait_serve_app()
                            # Ray's start-up work (dashboard, model loads) settles first.
                            wrk(
                                f"{serve_url}/api/v1/projects?limit=20",
                                clients=16,
                                seconds=SETTLE_S,
                                headers=headers,
                                strict=False,
                            )
                        got = measure_serve(serve_url, headers, args.seconds)
                    for clients, (load, counts) in got.items():
                        results.setdefault((side, clients), []).append(load)
                        line = (
                            f"round {i + 1} {side:<8} {clients:>2} clients: {load.rps:8.1f} req/s"
                            f"  p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:7.2f} ms"
                        )
                        if counts is not None:
                            replicas[clients] += counts
                            line += f"  ApiIngress replicas {min(counts)}-{max(counts)}"
                        print(line, flush=True)
        finally:
            if serve_url is not None:
                stop_platform_ray()
    print(f"end: {load_average()}")
    print(
        f"\nuvicorn: {args.workers} workers; serve: shipped defaults; {args.rounds} rounds,"
        f" {args.seconds} s per point; median (min-max) over rounds"
    )
    print(f"{'server':<8} {'clients':>7} {'req/s':>26} {'p50 ms':>20} {'p99 ms':>22}  replicas")
    for clients in CLIENTS:
        for name in ("uvicorn", "serve"):
            runs = results[(name, clients)]
            reps = (
                f"  ApiIngress {min(replicas[clients])}-{max(replicas[clients])}"
                if name == "serve"
                else f"  {args.workers} workers"
            )
            print(
                f"{name:<8} {clients:>7} {median_spread([r.rps for r in runs]):>26}"
                f" {median_spread([r.p50_ms for r in runs], '.2f'):>20}"
                f" {median_spread([r.p99_ms for r in runs], '.2f'):>22}{reps}"
            )
    ratios = [
        s.rps / u.rps for s, u in zip(results[("serve", 16)], results[("uvicorn", 16)], strict=True)
    ]
    added = [
        s.p50_ms - u.p50_ms
        for s, u in zip(results[("serve", 1)], results[("uvicorn", 1)], strict=True)
    ]
    print(f"per round api_ratio at 16 clients: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"per round added p50 at 1 client (ms): {', '.join(f'{a:.2f}' for a in added)}")
    api_ratio = statistics.median(r.rps for r in results[("serve", 16)]) / statistics.median(
        r.rps for r in results[("uvicorn", 16)]
    )
    added_p50 = statistics.median(r.p50_ms for r in results[("serve", 1)]) - statistics.median(
        r.p50_ms for r in results[("uvicorn", 1)]
    )
    print(f"api_ratio={api_ratio:.2f} added_p50_ms={added_p50:.2f}")


if __name__ == "__main__":
    main()
