"""The Ray Train run both bases share: a ``TorchTrainer`` over ``num_workers`` workers with a
checkpoint every epoch in the platform's object storage (file:// or s3://), worker failures
recovered from the last checkpoint, and the workers' events folded into the run's progress and
its experiment while it trains (only the driver writes to the database).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from raylane.config import Settings, get_settings
from raylane.core.training import tracking
from raylane.infra.storage import FileStore, S3Store, store_from_settings
from raylane.infra.workloads import task_resources
from raylane.jobs._base import RunContext
from raylane.schemas.training import TrainingRunCreate

PROGRESS_INTERVAL_S = 0.5  # how often the driver folds worker events into the run's progress


def storage(settings: Settings, organization_id: uuid.UUID) -> tuple[str, Any]:
    """Where checkpoints go: the platform's object storage (a path and its filesystem)."""
    store = store_from_settings(settings)
    if isinstance(store, FileStore):
        return str(store.root / "checkpoints" / str(organization_id)), None
    if isinstance(store, S3Store):
        from pyarrow import fs

        storage_cfg = settings.storage
        filesystem = fs.S3FileSystem(
            endpoint_override=store.endpoint_url,
            region=store.region or "us-east-1",
            access_key=_secret(storage_cfg.access_key_id),
            secret_key=_secret(storage_cfg.secret_access_key),
        )
        prefix = f"{store.prefix}/" if store.prefix else ""
        return f"{store.bucket}/{prefix}checkpoints/{organization_id}", filesystem
    raise RuntimeError(f"no checkpoint storage for {store!r}")


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass
class Tracker:
    """Folds worker events into the run's progress (only the driver writes to the database)."""

    ctx: RunContext
    epochs: int
    experiment_run_id: uuid.UUID
    steps: int = 0
    resumes: list[int] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    last_step: dict[str, Any] = field(default_factory=dict)
    first_step_at: float | None = None  # wall clock of the first step (start-up latency)

    async def drain(self, queue: Any) -> None:
        events = await asyncio.to_thread(_take_all, queue)
        new_epochs = []
        for event in events:
            kind = event.pop("type")
            if kind == "step":
                self.first_step_at = self.first_step_at or float(event.pop("at"))
                event.pop("at", None)
                self.last_step = event
            elif kind == "epoch":
                self.steps += int(event.pop("steps"))
                event.pop("confusion_matrix", None)
                self.history.append(event)
                new_epochs.append(event)
            elif kind == "resume":
                self.resumes.append(int(event["from_epoch"]))
        if not events:
            return await self.ctx.progress()  # still answers a cancel
        if new_epochs:
            points = [
                (name, float(value), int(e["epoch"]))
                for e in new_epochs
                for name, value in e.items()
                if name != "epoch"
            ]
            await tracking.log_metrics(
                organization_id=self.ctx.organization_id,
                experiment_run_id=self.experiment_run_id,
                metrics=points,
            )
        await self.ctx.progress(**self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        epoch = self.history[-1]["epoch"] if self.history else 0
        return {
            "stage": "training",
            "epoch": epoch,
            "epochs": self.epochs,
            "steps": self.steps,
            "step": self.last_step,
            "history": self.history[-200:],  # the full series goes to the experiment
            "worker_restarts": len(self.resumes),
            "resumed_from_epochs": self.resumes,
            "first_step_at": self.first_step_at,
        }


def _take_all(queue: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def _pump(fit: asyncio.Future[Any], queue: Any, tracker: Tracker) -> Any:
    while not fit.done():
        await asyncio.wait({fit}, timeout=PROGRESS_INTERVAL_S)
        await tracker.drain(queue)
    return fit.result()


async def fit(
    ctx: RunContext,
    params: TrainingRunCreate,
    config: dict[str, Any],
    dataset: Any,
    experiment_run_id: uuid.UUID,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the ``TorchTrainer`` (``num_workers`` workers, a checkpoint every epoch, worker
    failures recovered from the last one); returns the final model state and the counters."""
    import ray.train
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Queue

    from raylane.core.training.loop import CHECKPOINT_FILE, train_worker

    settings = get_settings()
    path, filesystem = storage(settings, ctx.organization_id)
    resources = task_resources("training", gpu=params.use_gpu)
    queue = Queue(actor_options={"num_cpus": 0})
    per_worker = {"CPU": resources["num_cpus"], **resources["resources"]}
    if "memory" in resources:
        per_worker["memory"] = resources["memory"]
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=config | {"queue": queue},
        scaling_config=ray.train.ScalingConfig(
            num_workers=params.num_workers,
            use_gpu=params.use_gpu,
            resources_per_worker=per_worker,
        ),
        run_config=ray.train.RunConfig(
            # Same name on every attempt of this run: a retried job restores the last checkpoint.
            name=f"run-{ctx.run_id}",
            storage_path=path,
            storage_filesystem=filesystem,
            failure_config=ray.train.FailureConfig(max_failures=params.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
        datasets={"train": dataset},
    )
    tracker = Tracker(ctx, params.hyperparameters.epochs, experiment_run_id)
    started = time.perf_counter()
    fit = asyncio.ensure_future(asyncio.to_thread(trainer.fit))
    result = await _pump(fit, queue, tracker)
    await tracker.drain(queue)
    fit_seconds = time.perf_counter() - started
    if result.checkpoint is None:
        raise RuntimeError("training ended without a checkpoint")
    with result.checkpoint.as_directory() as directory:
        from safetensors.torch import load_file

        saved = load_file(os.path.join(directory, CHECKPOINT_FILE))
    state = {k[6:]: v for k, v in saved.items() if k.startswith("model.")}
    counters = {
        "steps": tracker.steps,
        "worker_restarts": len(tracker.resumes),
        "resumed_from_epochs": tracker.resumes,
        "history": tracker.history,
        "fit_seconds": round(fit_seconds, 3),
        "first_step_at": tracker.first_step_at,
    }
    return state, counters
