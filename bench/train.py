"""Training throughput and start-up: a platform training run against a plain torch program.

Platform side: the path users take. The platform as ``make run`` starts it (stores, local Ray
head, Serve app, reconciler); a dataset version uploaded through the API; ``POST
/projects/{id}/training-runs`` with 1 worker and shipped defaults; the run followed to
``succeeded``. Its job embeds every text once (Ray Data over MiniLM) and trains the head with
Ray Train. Baseline: the same work as one plain program with the whole machine (MiniLM
``encode`` with torch on every core, then the same head, optimizer, batches and epochs in a
loop), run with Ray, Serve and the databases stopped.

- ``train_ratio``: samples/s (train examples x epochs / seconds embedding + training, as each
  side measures them) of the platform over the baseline; medians of alternating rounds.
- ``first_step_ratio``: submit → first training step. Platform: from the POST to the first
  step's wall clock the job records. Baseline: ``ray job submit`` (Job API, same cluster) of
  the baseline program to its first step.

The last line carries both figures. A run that fails, a held-out accuracy at or below the
majority class, or a baseline that does not learn exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    load_average,
    median_spread,
    platform_env,
    start_platform,
    stop_platform,
    tenant,
)

LABELS = ("sports", "cooking", "tech", "finance")
WORDS = {
    "sports": "match goal striker team league coach referee season tennis marathon",
    "cooking": "sauce dough oven simmer whisk roast recipe flour garlic bake",
    "tech": "server laptop kernel compiler database chip battery cloud app patch",
    "finance": "stocks bond interest loan bank budget invoice dividend market tax",
}


def corpus(n: int, seed: int = 5) -> bytes:
    """``n`` labeled sentences (JSON Lines), a tenth held out."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        own = WORDS[label].split()
        other = WORDS[LABELS[(i + 1) % len(LABELS)]].split()
        words = rng.sample(own, 4) + rng.sample(other, 1) + [f"item{i}"]
        rng.shuffle(words)
        split = "test" if i % 10 == 0 else "train"
        rows.append({"text": "The " + " ".join(words) + ".", "label": label, "split": split})
    return "\n".join(json.dumps(r) for r in rows).encode() + b"\n"


# --- the baseline program (also what ``ray job submit`` runs) -----------------------------------


def baseline(data_path: str, out_path: str, epochs: int, batch_size: int, lr: float) -> None:
    """Embed once with every core, train the head; writes timings and accuracy as JSON."""
    import numpy as np
    import torch

    from raylane.core.training.classifier import (
        Head,
        evaluate,
        label_map,
        parse_examples,
        predict_classes,
        train_epoch,
    )
    from raylane.infra import embeddings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(os.cpu_count() or 1)
    examples = parse_examples(Path(data_path).read_bytes())
    labels = label_map(examples)
    started = time.perf_counter()
    encoder = embeddings.load(str(embeddings.default_model_dir()))
    vectors = encoder.encode(
        [e.text for e in examples], batch_size=64, normalize_embeddings=True, convert_to_numpy=True
    ).astype(np.float32)
    embed_s = time.perf_counter() - started
    y = np.array([labels.index(e.label) for e in examples])
    held = np.array([e.split == "heldout" for e in examples])
    x_train, y_train = torch.as_tensor(vectors[~held]), torch.as_tensor(y[~held])
    torch.manual_seed(0)
    head = Head(vectors.shape[1], len(labels))
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.0)
    first_step_at = None
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(y_train))
        batches = (
            (x_train[order[i : i + batch_size]], y_train[order[i : i + batch_size]])
            for i in range(0, len(y_train), batch_size)
        )
        for _loss in train_epoch(head, optimizer, batches):
            first_step_at = first_step_at or time.time()
    fit_s = time.perf_counter() - started
    scores = evaluate(y[held], predict_classes(head, vectors[held]), len(labels))
    Path(out_path).write_text(
        json.dumps(
            {
                "embed_seconds": embed_s,
                "fit_seconds": fit_s,
                "first_step_at": first_step_at,
                "samples": int((~held).sum()) * epochs,
                "accuracy": scores["accuracy"],
            }
        )
    )


# --- the platform ------------------------------------------------------------------------------


class Failed(Exception):
    """A correctness problem: the bench exits non-zero."""


def platform_run(client: Any, project: Any, version: str, hyper: dict[str, Any]) -> dict[str, Any]:
    from raylane.client import RunFailed

    t0 = time.time()
    run = client.training.create(project, dataset_version_id=version, hyperparameters=hyper)
    try:
        run = client.runs.wait(run.id, timeout=1800, poll=0.5)
    except (RunFailed, TimeoutError):
        print(client.runs.logs(run.id).logs[-5000:], file=sys.stderr)
        raise
    result = run.result
    if result["evaluation"]["accuracy"] <= result["majority_baseline"] + 0.2:
        raise Failed(f"platform run {run.id} did not learn: {result['evaluation']}")
    seconds = result["embed_seconds"] + result["fit_seconds"]
    return {
        "rate": result["examples"]["train"] * hyper["epochs"] / seconds,
        "first_step": result["first_step_at"] - t0,
        "seconds": seconds,
    }


def submitted_baseline(settings: Any, data: str, hyper: dict[str, Any]) -> float:
    """``ray job submit`` of the baseline program: seconds from submission to its first step."""
    from raylane.infra import compute

    out = tempfile.mktemp(suffix=".json", dir=os.path.dirname(data))
    entry = (
        f"{sys.executable} {Path(__file__).resolve()} --baseline-run {data} {out}"
        f" --epochs {hyper['epochs']} --batch-size {hyper['batch_size']}"
        f" --lr {hyper['learning_rate']}"
    )
    client = compute.job_client(settings)
    t0 = time.time()
    job = client.submit_job(
        entrypoint=entry,
        submission_id=f"bench-train-{uuid.uuid4().hex[:8]}",
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}},
    )
    while str(client.get_job_status(job).value) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        time.sleep(0.2)
    if str(client.get_job_status(job).value) != "SUCCEEDED":
        print(client.get_job_logs(job)[-3000:], file=sys.stderr)
        raise Failed("the submitted baseline failed")
    return float(json.loads(Path(out).read_text())["first_step_at"]) - t0


def plain_baseline(data: str, hyper: dict[str, Any]) -> dict[str, Any]:
    import subprocess

    out = tempfile.mktemp(suffix=".json", dir=os.path.dirname(data))
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--baseline-run",
            data,
            out,
            "--epochs",
            str(hyper["epochs"]),
            "--batch-size",
            str(hyper["batch_size"]),
            "--lr",
            str(hyper["learning_rate"]),
        ],
        check=True,
    )
    got = json.loads(Path(out).read_text())
    if got["accuracy"] <= 0.5:
        raise Failed(f"the baseline did not learn: {got}")
    seconds = got["embed_seconds"] + got["fit_seconds"]
    return {"rate": got["samples"] / seconds, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="labeled sentences")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="400 rows, 5 epochs, 3 rounds")
    parser.add_argument("--baseline-run", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    hyper = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr}
    if args.baseline_run:
        baseline(*args.baseline_run, args.epochs, args.batch_size, args.lr)
        return 0
    if args.quick:
        args.rows, hyper["epochs"] = 400, 5
    loads = [load_average()]
    rates: dict[str, list[float]] = {"platform": [], "baseline": []}
    first: dict[str, list[float]] = {"platform": [], "job submit": []}
    with platform_env() as bench:
        from raylane.client import Client
        from raylane.config import get_settings

        settings = get_settings()
        data = bench.data_dir / "train.jsonl"
        data.write_bytes(corpus(args.rows))
        url = start_platform(settings)
        _, key = tenant(url, bench.admin_key, "train-bench")
        with Client(url, key, timeout=300) as client:
            project = client.projects.create(name="train-bench").id
            dataset = client.datasets.create(project, name="bench")
            version = str(client.datasets.upload(dataset.id, str(data)).version.id)
        try:
            for r in range(args.rounds):
                if r:
                    url = start_platform(settings)
                loads.append(load_average())
                with Client(url, key, timeout=300) as client:
                    got = platform_run(client, project, version, hyper)
                rates["platform"].append(got["rate"])
                first["platform"].append(got["first_step"])
                first["job submit"].append(submitted_baseline(settings, str(data), hyper))
                stop_platform(settings)
                loads.append(load_average())
                plain = plain_baseline(str(data), hyper)
                rates["baseline"].append(plain["rate"])
                print(
                    f"round {r + 1}: platform {got['rate']:.0f} samples/s, first step"
                    f" {got['first_step']:.1f} s; baseline {plain['rate']:.0f} samples/s, job"
                    f" submit first step {first['job submit'][-1]:.1f} s",
                    file=sys.stderr,
                )
        finally:
            stop_platform(settings)
    train_ratio = statistics.median(
        p / b for p, b in zip(rates["platform"], rates["baseline"], strict=True)
    )
    first_ratio = statistics.median(
        p / b for p, b in zip(first["platform"], first["job submit"], strict=True)
    )
    print(
        f"data: {args.rows} sentences, 4 labels, a tenth held out; {hyper['epochs']} epochs,"
        f" batch {hyper['batch_size']}, linear head over frozen MiniLM; 1 worker"
    )
    print(f"machine: {os.cpu_count()} cores; {args.rounds} alternating rounds")
    for line in loads:
        print(f"  {line}")
    print(f"\n{'side':<44} {'median (min-max)':>22}")
    print(f"{'platform samples/s (embed + train)':<44} {median_spread(rates['platform']):>22}")
    print(f"{'baseline samples/s (embed + train)':<44} {median_spread(rates['baseline']):>22}")
    print(f"{'platform submit -> first step, s':<44} {median_spread(first['platform']):>22}")
    print(f"{'ray job submit -> first step, s':<44} {median_spread(first['job submit']):>22}")
    print(f"train_ratio={train_ratio:.2f} first_step_ratio={first_ratio:.2f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
