"""Batch prediction job: ``python -m raylane.jobs.predict --run-id <uuid>``.

Classifies every row of a dataset version with a registered model version as a Ray Data run:
rows → ``map_batches`` over an actor that loads the model once (the head, and the bundled MiniLM
or the version's own fine-tuned encoder) → predictions, written
as JSON Lines to object storage (the run's result names the key, the counts and, where the rows
carry labels, the accuracy).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import numpy as np

from raylane.config import get_settings
from raylane.core.training import tracking
from raylane.core.training.classifier import load_model, parse_examples
from raylane.infra.storage import store_from_settings
from raylane.infra.workloads import task_resources
from raylane.jobs._base import RunContext, main

log = logging.getLogger("raylane.jobs.predict")


class Classify:
    """A Ray Data actor: the encoder and the head loaded once, texts in, labels out."""

    def __init__(self, artifact: bytes, threads: int) -> None:
        self._model = load_model(artifact)
        self._threads = threads
        self._model.embed_texts(["warm up"], threads=threads)  # loads the shared encoder once

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        probs = self._model.predict_texts(texts, threads=self._threads)
        labels = np.array(self._model.labels, dtype=object)
        return {
            "index": batch["index"],
            "label": batch["label"],
            "predicted": labels[probs.argmax(axis=1)],
            "probability": probs.max(axis=1).astype(np.float64),
        }


def output_key(ctx: RunContext) -> str:
    return f"predictions/{ctx.organization_id}/{ctx.run_id}.jsonl"


async def predict(ctx: RunContext) -> dict[str, Any]:
    import ray

    settings = get_settings()
    params = ctx.params
    content = await tracking.read_dataset(
        organization_id=ctx.organization_id, dataset_version_id=params["dataset_version_id"]
    )
    examples = parse_examples(content, fmt="jsonl", holdout=0.0)
    artifact = await tracking.read_artifact(params["artifact_key"])
    await asyncio.to_thread(load_model, artifact)  # a bad artifact fails here, before Ray work
    await ctx.progress(stage="predicting", rows_total=len(examples))
    ray.init(namespace=settings.ray.namespace, ignore_reinit_error=True, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    resources = task_resources("embeddings")
    items = [{"index": i, "text": e.text, "label": e.label} for i, e in enumerate(examples)]

    def run() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (
            ray.data.from_items(items, override_num_blocks=max(1, len(items) // 512))
            .map_batches(
                Classify,
                fn_constructor_kwargs={
                    "artifact": artifact,
                    "threads": max(1, int(resources["num_cpus"])),
                },
                batch_size=256,
                concurrency=1,
                num_cpus=resources["num_cpus"],
                resources=resources["resources"],
            )
            .take_all()
        )
        return sorted(rows, key=lambda r: int(r["index"]))

    rows = await asyncio.to_thread(run)
    out = "".join(
        json.dumps(
            {
                "text": examples[int(r["index"])].text,
                "label": str(r["label"]),
                "predicted": str(r["predicted"]),
                "probability": round(float(r["probability"]), 6),
            }
        )
        + "\n"
        for r in rows
    )
    key = output_key(ctx)
    await asyncio.to_thread(store_from_settings(settings).put, key, out.encode())
    correct = sum(str(r["label"]) == str(r["predicted"]) for r in rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["predicted"])] = counts.get(str(r["predicted"]), 0) + 1
    return {
        "rows": len(rows),
        "output_key": key,
        "predicted_counts": counts,
        "accuracy": correct / len(rows) if rows else 0.0,
        "model": params["model"],
        "version": params["version"],
    }


if __name__ == "__main__":
    main(predict)
