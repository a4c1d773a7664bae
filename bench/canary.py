"""Requests/s through an endpoint with a 10% canary vs straight to one model version.

Both sides are the Serve app as ``make run`` deploys it (``runtime.start_ray`` with the shipped
head resources, every deployment, shipped autoscaling), in the same run, on the same data:

* ``direct`` (baseline): ``POST /api/v1/models/{name}/predict`` naming version 1, the way a
  caller pins one version without an endpoint (ApiIngress → ModelServer).
* ``endpoint`` (platform): ``POST /api/v1/endpoints/{id}/predict`` on an endpoint whose stable
  version is 1 and whose canary, version 2, takes 10% (ApiIngress → EndpointRouter →
  ModelServer, multiplexed by version id; per-version counts in Redis).

The two versions are two tiny heads over MiniLM trained here on a few labeled sentences
(different seeds), logged as tracking-run artifacts and registered through the API. Each
request classifies one short text. wrk (closed loop, C) drives ``--clients`` concurrent
clients for ``--seconds`` per point after a warm-up; rounds alternate the order (direct first
in odd rounds, endpoint first in even ones), and each figure is the median of the rounds with
its min-max. Any wrk socket error, timeout or non-2xx exits non-zero, and so does a canary
share (from the endpoint's per-version metrics) outside 10% ± 3 points or any counted error.

Last line: ``canary_ratio=<endpoint req/s / direct req/s>`` (median over rounds of each side).
Goal: ``canary_ratio`` >= 0.9.

    .venv/bin/python bench/canary.py [--seconds 10] [--rounds 3] [--clients 16]   (--quick)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    Load,
    load_average,
    median_spread,
    platform_env,
    stop_platform_ray,
    tenant,
    wait_serve_app,
    wrk,
)

TEXT = "The striker scored twice in the second half."
ROWS = [
    ("The striker scored twice in the cup final.", "sports"),
    ("The coach praised the team after the match.", "sports"),
    ("Whisk the eggs and fold in the flour.", "cooking"),
    ("Roast the garlic, then simmer the sauce.", "cooking"),
    ("The kernel patch fixed the driver crash.", "tech"),
    ("The compiler emits faster code for the chip.", "tech"),
    ("The bank raised its interest rate on loans.", "finance"),
    ("Dividends lifted the stock market today.", "finance"),
]
WEIGHT = 10
TIMEOUT_S = 30  # a request slower than this is an error (wrk's default 2 s is for GETs)


def train_head(seed: int) -> bytes:
    """A tiny classifier head over MiniLM, trained on ``ROWS`` (a second or two on a CPU)."""
    import torch

    from raylane.core.training.classifier import Classifier, Head, save_head, train_epoch
    from raylane.infra import embeddings

    labels = sorted({label for _, label in ROWS})
    encoder = embeddings.load(str(embeddings.default_model_dir()))
    x = torch.as_tensor(
        encoder.encode([t for t, _ in ROWS], normalize_embeddings=True), dtype=torch.float32
    )
    y = torch.as_tensor([labels.index(label) for _, label in ROWS])
    torch.manual_seed(seed)
    head = Head(x.shape[1], len(labels))
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.05)
    for _ in range(30):
        list(train_epoch(head, optimizer, [(x, y)]))
    return save_head(Classifier(head=head, labels=labels, encoder=embeddings.BUILTIN))


def prepare(url: str, key: str) -> tuple[str, str]:
    """Two registered versions of one model and an endpoint (stable 1, canary 2 at 10%):
    returns (model name, endpoint id)."""
    from raylane.client import Client

    name = f"topics-{uuid.uuid4().hex[:6]}"
    with Client(url, key) as client:
        project = client.projects.create(name="canary-bench")
        experiment = client.experiments.create(project.id, name="heads")
        client.models.create(name=name)
        for seed in (1, 2):
            run = client.experiments.start_run(experiment=experiment.id, name=f"seed-{seed}")
            client.experiments.log_artifact(
                run.id, ("head.json", train_head(seed)), artifact_path="model/head.json"
            )
            client.models.create_version(
                name, experiment_run_id=run.id, artifact_path="model/head.json"
            )
        endpoint = client.endpoints.create(
            project.id, name="topics", kind="model", subject=name, stable=1
        )
        client.endpoints.split(endpoint.id, canary=2, weight=WEIGHT)
    return name, str(endpoint.id)


def post_script(body: dict[str, Any], directory: Path, name: str) -> str:
    """A wrk Lua script that POSTs ``body`` as JSON."""
    path = directory / f"{name}.lua"
    payload = json.dumps(body).replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{payload}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return str(path)


def check_split(url: str, key: str, endpoint_id: str) -> tuple[int, int, float]:
    """The endpoint's per-version counts since it was made: (stable, canary, canary share).

    Raises:
        SystemExit: an error counted on either version, or a share outside 10% +- 3 points.
    """
    from datetime import UTC, datetime, timedelta

    from raylane.client import Client

    with Client(url, key) as client:
        metrics = client.endpoints.metrics(
            endpoint_id, since=datetime.now(UTC) - timedelta(hours=2)
        )
    assert metrics.canary is not None
    stable, canary = metrics.stable, metrics.canary
    total = stable.requests + canary.requests
    share = canary.requests / total if total else 0.0
    if stable.errors or canary.errors:
        sys.exit(f"errors counted: stable {stable.errors}, canary {canary.errors}")
    if not total or abs(share - WEIGHT / 100) > 0.03:
        sys.exit(f"canary share {share:.3f} of {total} requests, expected {WEIGHT / 100}")
    return stable.requests, canary.requests, share


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="seconds per point")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (>= 3)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent wrk connections")
    parser.add_argument("--quick", action="store_true", help="three rounds of 3 s points")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 3
    if shutil.which("wrk") is None:
        sys.exit("bench/canary.py needs wrk (Debian package 'wrk')")
    print(f"start: {load_average()}", flush=True)
    results: dict[str, list[Load]] = {"direct": [], "endpoint": []}
    with platform_env() as bench, tempfile.TemporaryDirectory() as scripts:
        from raylane.config import get_settings
        from raylane.infra import runtime
        from raylane.serve.deploy import deploy

        settings = get_settings()
        runtime.start_ray(settings)  # as `raylane up` (make run) does
        try:
            url = deploy(settings)
            wait_serve_app()
            _, key = tenant(url, bench.admin_key, slug="canary")
            name, endpoint_id = prepare(url, key)
            headers = {"Authorization": f"Bearer {key}"}
            targets = {
                "direct": (
                    f"{url}/api/v1/models/{name}/predict",
                    post_script({"inputs": [TEXT], "version": "1"}, Path(scripts), "direct"),
                ),
                "endpoint": (
                    f"{url}/api/v1/endpoints/{endpoint_id}/predict",
                    post_script({"inputs": [TEXT]}, Path(scripts), "endpoint"),
                ),
            }
            for target, script in targets.values():  # both versions loaded, caches warm
                wrk(
                    target,
                    clients=args.clients,
                    seconds=3,
                    headers=headers,
                    script=script,
                    strict=False,
                )
            print(f"after warm-up: {load_average()}", flush=True)
            for i in range(args.rounds):
                order = ("direct", "endpoint") if i % 2 == 0 else ("endpoint", "direct")
                for side in order:
                    target, script = targets[side]
                    load = wrk(
                        target,
                        clients=args.clients,
                        seconds=args.seconds,
                        headers=headers,
                        script=script,
                        timeout_s=TIMEOUT_S,
                    )
                    results[side].append(load)
                    print(
                        f"round {i + 1} {side:<8} {load.rps:8.1f} req/s  p50 {load.p50_ms:6.2f} ms"
                        f"  p99 {load.p99_ms:7.2f} ms",
                        flush=True,
                    )
            stable_n, canary_n, share = check_split(url, key, endpoint_id)
        finally:
            stop_platform_ray()
    print(f"end: {load_average()}")
    print(
        f"\nServe app, shipped defaults; {args.clients} clients; {args.rounds} rounds,"
        f" {args.seconds} s per point; median (min-max) over rounds"
    )
    print(f"{'path':<9} {'req/s':>26} {'p50 ms':>20} {'p99 ms':>22}")
    for side in ("direct", "endpoint"):
        runs = results[side]
        print(
            f"{side:<9} {median_spread([r.rps for r in runs]):>26}"
            f" {median_spread([r.p50_ms for r in runs], '.2f'):>20}"
            f" {median_spread([r.p99_ms for r in runs], '.2f'):>22}"
        )
    ratios = [e.rps / d.rps for e, d in zip(results["endpoint"], results["direct"], strict=True)]
    print(f"per round canary_ratio: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(
        f"endpoint split: stable {stable_n}, canary {canary_n} requests"
        f" ({100 * share:.1f}% canary, weight {WEIGHT}%), no errors"
    )
    ratio = statistics.median(r.rps for r in results["endpoint"]) / statistics.median(
        r.rps for r in results["direct"]
    )
    print(f"canary_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
