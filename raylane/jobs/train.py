"""Training job: ``python -m raylane.jobs.train --run-id <uuid>``.

Reads the dataset version. For the ``minilm-frozen`` base it embeds each text once with the
bundled MiniLM (a Ray Data ``map_batches`` over an actor that loads the model once), then trains
a head either with a Ray Train ``TorchTrainer`` (data-parallel over ``num_workers``, checkpoints
every epoch, worker failures recovered from the last checkpoint) or with a Ray Tune search (grid
or random, ASHA early stopping) whose trials are recorded as child runs. For
``minilm-finetuned`` the workers read the texts, tokenize them and train the encoder with the
head (the same ``TorchTrainer``, checkpoints and recovery; no search). Metrics stream into the
run's progress while it trains; the final model (head, label map and, fine-tuned, the encoder)
is stored as the run's artifact.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.config import get_settings
from raylane.core.rbac import Actor, Permission
from raylane.core.training import tracking
from raylane.core.training.classifier import (
    Classifier,
    Example,
    Head,
    evaluate,
    label_map,
    parse_examples,
    predict_classes,
    save_model,
)
from raylane.core.training.service import KIND, training_service
from raylane.errors import InvalidInput
from raylane.infra import embeddings
from raylane.infra.workloads import task_resources
from raylane.jobs._base import Operator, RunContext, Target, UsageError, main
from raylane.jobs._trainer import fit, storage
from raylane.schemas.training import FINETUNED, TrainingRunCreate

log = logging.getLogger("raylane.jobs.train")


class EmbedTexts:
    """A Ray Data actor: MiniLM loaded once, texts in, unit vectors out."""

    def __init__(self, model_dir: str, threads: int) -> None:
        self._model = embeddings.load(model_dir, threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self._model.encode(
            list(batch["text"]), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        )
        return {"vector": vectors.astype(np.float32), "y": batch["y"], "heldout": batch["heldout"]}


@dataclass
class Embedded:
    train: Any  # ray.data.Dataset of {"vector", "y"}
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    dim: int


def embed(examples: list[Example], labels: list[str], *, resources: dict[str, Any]) -> Embedded:
    """Embed every text once; the train split stays a Ray Data dataset for the workers."""
    import pandas as pd
    import ray

    index = {label: i for i, label in enumerate(labels)}
    items = [
        {"text": e.text, "y": index[e.label], "heldout": e.split == "heldout"} for e in examples
    ]
    threads = max(1, int(resources.get("num_cpus", 1)))
    done = (
        # Few large blocks: one block per row would cost a task round trip per text.
        ray.data.from_items(items, override_num_blocks=max(1, len(items) // 512))
        .map_batches(
            EmbedTexts,
            fn_constructor_kwargs={
                "model_dir": str(embeddings.resolve(embeddings.BUILTIN)),
                "threads": threads,
            },
            batch_size=256,
            concurrency=1,
            num_cpus=resources.get("num_cpus", 1),
            resources=resources.get("resources"),
        )
        .materialize()
    )
    rows = done.to_pandas()
    vectors = np.stack(rows["vector"].to_numpy()).astype(np.float32)
    y = rows["y"].to_numpy().astype(np.int64)
    held = rows["heldout"].to_numpy().astype(bool)
    if not (~held).any():
        raise InvalidInput("the dataset has no training rows")
    train = ray.data.from_pandas(pd.DataFrame({"vector": list(vectors[~held]), "y": y[~held]}))
    return Embedded(train, vectors[~held], y[~held], vectors[held], y[held], vectors.shape[1])


@dataclass
class Texts:
    """The fine-tuned base's input: raw texts (the workers tokenize them per batch)."""

    train: Any  # ray.data.Dataset of {"text", "y"}
    train_y: np.ndarray
    val_texts: list[str]
    val_y: np.ndarray


def texts(examples: list[Example], labels: list[str]) -> Texts:
    """The train split as a Ray Data dataset of texts; the held-out split kept in memory."""
    import ray

    index = {label: i for i, label in enumerate(labels)}
    train = [{"text": e.text, "y": index[e.label]} for e in examples if e.split != "heldout"]
    if not train:
        raise InvalidInput("the dataset has no training rows")
    held = [e for e in examples if e.split == "heldout"]
    return Texts(
        train=ray.data.from_items(train, override_num_blocks=max(1, len(train) // 512)),
        train_y=np.array([r["y"] for r in train], dtype=np.int64),
        val_texts=[e.text for e in held],
        val_y=np.array([index[e.label] for e in held], dtype=np.int64),
    )


def _config(params: TrainingRunCreate, data: Embedded, classes: int) -> dict[str, Any]:
    return params.hyperparameters.model_dump() | {"dim": data.dim, "classes": classes}


async def fit_trainer(
    ctx: RunContext,
    params: TrainingRunCreate,
    data: Embedded,
    classes: int,
    experiment_run_id: uuid.UUID,
) -> tuple[Head, dict[str, Any]]:
    """Data-parallel training of a head with Ray Train; returns it and the run's counters."""
    config = _config(params, data, classes) | {"heldout": (data.val_x, data.val_y)}
    state, counters = await fit(ctx, params, config, data.train, experiment_run_id)
    head = Head(data.dim, classes, params.hyperparameters.hidden, params.hyperparameters.dropout)
    head.load_state_dict(state)
    return head, counters


async def fit_finetune(
    ctx: RunContext,
    params: TrainingRunCreate,
    data: Texts,
    classes: int,
    experiment_run_id: uuid.UUID,
) -> tuple[Classifier, dict[str, Any]]:
    """Data-parallel fine-tuning of the bundled MiniLM with a head; returns the classifier
    (its own encoder) and the run's counters."""
    from raylane.core.training import finetune

    hyper = params.hyperparameters
    assert hyper.max_length is not None  # the schema fills the fine-tune's defaults in
    config = hyper.model_dump() | {
        "base": params.base,
        "classes": classes,
        "heldout": (data.val_texts, data.val_y),
    }
    state, counters = await fit(ctx, params, config, data.train, experiment_run_id)
    # The bundled architecture with the checkpoint's weights: no second pretrained load.
    model = finetune.build(classes, hidden=hyper.hidden, dropout=hyper.dropout, pretrained=False)
    model.load_state_dict(state)
    model.eval()
    classifier = Classifier(
        head=model.head,
        labels=[],  # filled by the caller, who owns the label map
        encoder=embeddings.BUILTIN,
        tuned=model.encoder,
        max_length=hyper.max_length,
    )
    return classifier, counters


async def fit_search(
    ctx: RunContext,
    params: TrainingRunCreate,
    data: Embedded,
    classes: int,
    experiment_run_id: uuid.UUID,
) -> tuple[Head, dict[str, Any]]:
    """A Ray Tune search over the head's hyperparameters; returns the best trial's head."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from raylane.core.training.loop import tune_trial

    search = params.search
    assert search is not None
    settings = get_settings()
    path, filesystem = storage(settings, ctx.organization_id)
    pick = tune.grid_search if search.algorithm == "grid" else tune.choice
    space = _config(params, data, classes) | {k: pick(v) for k, v in search.space().items()}
    mode = "min" if search.metric == "loss" else "max"
    epochs = params.hyperparameters.epochs
    scheduler = (
        ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=1, reduction_factor=2)
        if search.scheduler == "asha"
        else None
    )
    resources = task_resources("training", gpu=params.use_gpu)
    trial = tune.with_parameters(
        tune_trial, data=(data.train_x, data.train_y, data.val_x, data.val_y)
    )
    tuner = tune.Tuner(
        tune.with_resources(
            trial,
            {
                "cpu": resources["num_cpus"],
                "gpu": resources.get("num_gpus", 0),
                **resources["resources"],
            },
        ),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=search.metric,
            mode=mode,
            num_samples=1 if search.algorithm == "grid" else search.num_samples,
            scheduler=scheduler,
        ),
        run_config=tune.RunConfig(
            name=f"run-{ctx.run_id}-search",
            storage_path=path,
            storage_filesystem=filesystem,
            verbose=0,
        ),
    )
    await ctx.progress(stage="searching", trials=None)
    grid = await asyncio.to_thread(tuner.fit)
    best = grid.get_best_result(metric=search.metric, mode=mode, scope="last")
    results = [grid[i] for i in range(len(grid))]
    trials = [_trial(r, best, search.space()) for r in results if r.config is not None]
    await _log_trials(ctx, params, trials, experiment_run_id)
    await ctx.progress(stage="searched", trials=trials)
    assert best.config is not None
    # The winner is retrained on the whole train split with its settings (the trials only
    # reported metrics), so the artifact is reproducible from the recorded config.
    best_params = params.model_copy(
        update={
            "hyperparameters": params.hyperparameters.model_copy(
                update={k: best.config[k] for k in search.space()}
            )
        }
    )
    head, counters = await fit_trainer(ctx, best_params, data, classes, experiment_run_id)
    best_trial = next(t for t in trials if t["best"])
    return head, counters | {"trials": trials, "best_trial": best_trial["trial_id"]}


async def _log_trials(
    ctx: RunContext, params: TrainingRunCreate, trials: list[dict[str, Any]], parent: uuid.UUID
) -> None:
    """Each trial as a child tracking run of the search's, the best one tagged."""
    assert params.experiment_id is not None
    for trial in trials:
        child = await tracking.start_run(
            organization_id=ctx.organization_id,
            experiment_id=params.experiment_id,
            run_id=ctx.run_id,
            name=f"trial-{trial['trial_id']}",
            params=trial["params"],
            dataset_version_id=params.dataset_version_id,
            parent_id=parent,
        )
        await tracking.log_metrics(
            organization_id=ctx.organization_id,
            experiment_run_id=child,
            metrics=[(k, v, trial["epochs"]) for k, v in trial["metrics"].items()],
            tags={
                "best": str(trial["best"]).lower(),
                "early_stopped": str(trial["early_stopped"]).lower(),
            },
        )
        await tracking.end_run(organization_id=ctx.organization_id, experiment_run_id=child)
        trial["experiment_run_id"] = str(child)


def _trial(result: Any, best: Any, space: dict[str, Any]) -> dict[str, Any]:
    metrics = result.metrics or {}
    return {
        "trial_id": str(metrics.get("trial_id") or result.path.rsplit("/", 1)[-1]),
        "params": {k: result.config[k] for k in space},
        "epochs": int(metrics.get("epoch", 0)),
        "metrics": {
            k: metrics[k] for k in ("loss", "val_accuracy", "val_macro_f1") if k in metrics
        },
        "early_stopped": int(metrics.get("epoch", 0)) < int(result.config["epochs"]),
        "best": result.path == best.path,
    }


async def train(ctx: RunContext) -> dict[str, Any]:
    """The job's handler: dataset → embeddings → trainer or search → evaluation → artifact."""
    params = TrainingRunCreate.model_validate(ctx.params)
    assert params.experiment_id is not None  # the service fills it in
    await ctx.progress(stage="loading")
    content = await tracking.read_dataset(
        organization_id=ctx.organization_id, dataset_version_id=params.dataset_version_id
    )
    examples = parse_examples(content, fmt="jsonl")
    labels = label_map(examples)
    if len(labels) < 2:
        raise InvalidInput("a classifier needs at least two labels")
    tracked = await tracking.start_run(
        organization_id=ctx.organization_id,
        experiment_id=params.experiment_id,
        run_id=ctx.run_id,
        name=f"train-{str(ctx.run_id)[:8]}",
        params=params.hyperparameters.model_dump(exclude_none=True)
        | {"num_workers": params.num_workers, "base": params.base, "search": bool(params.search)},
        dataset_version_id=params.dataset_version_id,
    )
    try:
        result = await _train(ctx, params, examples, labels, tracked)
    except BaseException:
        await tracking.end_run(
            organization_id=ctx.organization_id, experiment_run_id=tracked, failed=True
        )
        raise
    await tracking.end_run(organization_id=ctx.organization_id, experiment_run_id=tracked)
    return result


async def _train(
    ctx: RunContext,
    params: TrainingRunCreate,
    examples: list[Example],
    labels: list[str],
    tracked: uuid.UUID,
) -> dict[str, Any]:
    import ray

    settings = get_settings()
    ray.init(namespace=settings.ray.namespace, ignore_reinit_error=True, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    await ctx.progress(
        stage="preparing" if params.base == FINETUNED else "embedding",
        examples=len(examples),
        labels=labels,
        experiment_run_id=str(tracked),
    )
    fitted = await (_finetuned if params.base == FINETUNED else _frozen)(
        ctx, params, examples, labels, tracked
    )
    final = evaluate(fitted.val_y, fitted.predicted, len(labels))
    await tracking.log_metrics(
        organization_id=ctx.organization_id,
        experiment_run_id=tracked,
        metrics=[
            ("final_accuracy", final["accuracy"], params.hyperparameters.epochs),
            ("final_macro_f1", final["macro_f1"], params.hyperparameters.epochs),
        ],
    )
    key = await tracking.save_artifact(
        organization_id=ctx.organization_id,
        experiment_run_id=tracked,
        data=save_model(fitted.model),
    )
    counters = fitted.counters
    counters.pop("history", None)
    return {
        "experiment_run_id": str(tracked),
        "artifact_path": tracking.ARTIFACT_PATH,
        "artifact_key": key,
        "base": params.base,
        "labels": labels,
        "examples": {"train": fitted.train_count, "heldout": len(fitted.val_y)},
        "evaluation": final,
        "majority_baseline": _majority(fitted.val_y),
        **counters,
    }


@dataclass
class Fitted:
    """A trained classifier and its predictions on the held-out split."""

    model: Classifier
    counters: dict[str, Any]
    val_y: np.ndarray
    predicted: np.ndarray
    train_count: int


async def _frozen(
    ctx: RunContext,
    params: TrainingRunCreate,
    examples: list[Example],
    labels: list[str],
    tracked: uuid.UUID,
) -> Fitted:
    started = time.perf_counter()
    data = await asyncio.to_thread(
        embed, examples, labels, resources=task_resources("training", gpu=params.use_gpu)
    )
    embed_seconds = time.perf_counter() - started
    fit = fit_search if params.search is not None else fit_trainer
    head, counters = await fit(ctx, params, data, len(labels), tracked)
    return Fitted(
        model=Classifier(head=head, labels=labels, encoder=embeddings.BUILTIN),
        counters=counters | {"embed_seconds": round(embed_seconds, 3)},
        val_y=data.val_y,
        predicted=predict_classes(head, data.val_x),
        train_count=len(data.train_y),
    )


async def _finetuned(
    ctx: RunContext,
    params: TrainingRunCreate,
    examples: list[Example],
    labels: list[str],
    tracked: uuid.UUID,
) -> Fitted:
    data = await asyncio.to_thread(texts, examples, labels)
    model, counters = await fit_finetune(ctx, params, data, len(labels), tracked)
    model.labels = labels
    probabilities = await asyncio.to_thread(model.predict_texts, data.val_texts)
    return Fitted(
        model=model,
        counters=counters,
        val_y=data.val_y,
        predicted=probabilities.argmax(axis=1) if len(data.val_y) else data.val_y,
        train_count=len(data.train_y),
    )


def _majority(y: np.ndarray) -> float:
    return float(np.bincount(y).max() / len(y)) if len(y) else 0.0


# The operator path: ``ray job submit -- python -m raylane.jobs.train --project ID --config
# train.yaml``. The YAML holds the training-run request's fields, validated by its schema and
# checked by the service exactly as ``POST /projects/{id}/training-runs`` is.
def _train_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--project", type=uuid.UUID, metavar="ID", help="the project to train in")
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a YAML file with the training-run request (dataset_version_id, hyperparameters, ...)",
    )


def read_config(path: Path) -> TrainingRunCreate:
    """The training request in a YAML file.

    Raises:
        UsageError: the file cannot be read.
        InvalidInput: it is not YAML, not a mapping, or not a valid training request.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from exc
    try:
        fields = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not YAML: {exc}") from exc
    if not isinstance(fields, dict):
        raise InvalidInput(f"{path}: expected a mapping of training-run fields")
    try:
        return TrainingRunCreate.model_validate(fields)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"{path}: {problems}") from exc


async def _train_target(session: AsyncSession, actor: Actor, args: argparse.Namespace) -> Target:
    if args.project is None or args.config is None:
        raise UsageError("--project and --config are required (or --run-id)")
    data = read_config(args.config)
    params = await training_service.prepare(
        session, actor=actor, project_id=args.project, data=data
    )
    # Each training run is its own target, as through the API.
    return Target(uuid.uuid4(), args.project, params, max_attempts=data.max_attempts)


TRAIN = Operator(
    kind=KIND,
    permission=Permission.RUN_WRITE,
    add_arguments=_train_arguments,
    resolve=_train_target,
)


if __name__ == "__main__":
    main(train, operator=TRAIN)
