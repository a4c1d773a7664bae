"""``raylane train``: start training runs (Ray Train, or a Tune search) and follow them with a
live progress bar of epochs, loss and held-out accuracy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.text import Text

from raylane.cli.context import api
from raylane.cli.output import (
    LimitOpt,
    OutputFormat,
    OutputOpt,
    fetch,
    note,
    progress_bar,
    show,
    show_many,
)
from raylane.client import Client, RunFailed
from raylane.schemas.runs import RunRead

app = typer.Typer(help="Training runs: train a text classifier on a dataset version.")

COLUMNS = ("id", "status", "attempts", "created_at", "finished_at")
# The most texts one predict request carries (the API's limit); a longer file is sent in parts.
PREDICT_BATCH = 256
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project id.")]


def _floats(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter("a comma-separated list of numbers") from None


def _ints(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter("a comma-separated list of integers") from None


@app.command("start")
def start_training(
    ctx: typer.Context,
    project: ProjectOpt,
    dataset_version: Annotated[str, typer.Option("--dataset-version", help="Dataset version id.")],
    base: Annotated[
        str | None,
        typer.Option(
            help="minilm-frozen (default: a head over the frozen encoder) or minilm-finetuned"
            " (the encoder trained too; slower, its own weights)."
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs (default 10; fine-tuned 4).")
    ] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Batch size.")] = None,
    hidden: Annotated[int | None, typer.Option(min=0, help="MLP width (0: linear).")] = None,
    encoder_lr: Annotated[
        float | None, typer.Option("--encoder-lr", help="Encoder learning rate (fine-tuned).")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(min=1, help="Tokens per text (fine-tuned; default 128).")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Data-parallel workers.")] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="Train on the GPU group.")] = False,
    search: Annotated[
        str | None, typer.Option(help="Tune search: grid or random (with --search-* values).")
    ] = None,
    search_lr: Annotated[str | None, typer.Option(help="Learning rates, e.g. 0.1,0.01.")] = None,
    search_hidden: Annotated[str | None, typer.Option(help="MLP widths, e.g. 0,128.")] = None,
    samples: Annotated[int | None, typer.Option(min=1, help="Random-search trials.")] = None,
    watch: Annotated[bool, typer.Option(help="Follow the run until it ends.")] = True,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Queue a training run; by default follow it with a progress bar."""
    hyper = {
        k: v
        for k, v in {
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "hidden": hidden,
            "encoder_learning_rate": encoder_lr,
            "max_length": max_length,
        }.items()
        if v is not None
    }
    space: dict[str, Any] | None = None
    if search is not None:
        space = {"algorithm": search, "learning_rate": _floats(search_lr)}
        space |= {"hidden": _ints(search_hidden), "num_samples": samples}
        space = {k: v for k, v in space.items() if v is not None}
    with api(ctx) as client:
        run = client.training.create(
            project,
            dataset_version_id=dataset_version,
            base=base,
            hyperparameters=hyper or None,
            search=space,
            num_workers=workers,
            use_gpu=gpu or None,
        )
        if not watch:
            show(run, output)
            return
        follow(client, str(run.id), output=output)


@app.command("list")
def list_training(
    ctx: typer.Context,
    project: ProjectOpt,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """The project's training runs, newest first."""
    with api(ctx) as client:
        pages = partial(client.training.iter, project)
        show_many(fetch(pages, limit), output, columns=COLUMNS, noun="training runs")


@app.command("watch")
def watch_training(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Training run id.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Follow a training run until it ends (exit 1 when it fails or is cancelled)."""
    with api(ctx) as client:
        follow(client, run_id, output=output)


class Predicted(BaseModel):
    """One classified text, as ``train predict`` prints it."""

    text: str
    label: str
    probability: float
    probabilities: dict[str, float]
    model: str
    version: str


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``name``, ``name:3``, ``name:latest`` or ``name:production`` as (name, version, alias).

    Raises:
        typer.BadParameter: no name, or an empty part after the colon.
    """
    name, sep, which = ref.partition(":")
    if not name or (sep and not which):
        raise typer.BadParameter(f"{ref!r}: expected MODEL, MODEL:VERSION or MODEL:ALIAS")
    if not sep:
        return name, None, None
    if which.isdigit() or which == "latest":
        return name, which, None
    return name, None, which


def read_texts(path: Path) -> list[str]:
    """The ``text`` of each JSON Lines row of ``path`` (blank lines skipped).

    Raises:
        typer.BadParameter: the file cannot be read, or a line is not an object with a
            non-empty string ``text`` (the message names the line).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--file") from exc
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise typer.BadParameter(
                f"{path} line {number}: expected an object with a non-empty text",
                param_hint="--file",
            )
        texts.append(text)
    if not texts:
        raise typer.BadParameter(f"{path}: no rows", param_hint="--file")
    return texts


def _chunks(texts: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(texts), PREDICT_BATCH):
        yield texts[start : start + PREDICT_BATCH]


@app.command("predict")
def predict(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Argument(help="MODEL, MODEL:VERSION or MODEL:ALIAS (e.g. intent:production).")
    ],
    text: Annotated[
        list[str] | None, typer.Option("--text", "-t", help="A text to classify (repeatable).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="JSON Lines rows with a text field, e.g. rows.jsonl."),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Classify texts with a registered model version (the latest unless one is named)."""
    name, version, alias = parse_model_ref(model)
    if bool(text) == (file is not None):
        raise typer.BadParameter("give --text (one or more) or --file, not both")
    texts = list(text or []) if file is None else read_texts(file)
    with api(ctx) as client:
        rows = [
            Predicted(
                text=given,
                label=p.label,
                probability=p.probabilities.get(p.label, 0.0),
                probabilities=p.probabilities,
                model=answer.model,
                version=answer.version,
            )
            for part in _chunks(texts)
            for answer in [client.training.predict(name, part, version=version, alias=alias)]
            for given, p in zip(part, answer.predictions, strict=True)
        ]
    show_many(rows, output, columns=("label", "probability", "text"), noun="predictions")
    if output is not OutputFormat.json:
        note(f"{name} version {rows[0].version}: {len(rows)} predictions.")


def follow(client: Client, run_id: str, *, output: OutputFormat) -> RunRead:
    """Poll the run with an epoch bar on stderr; print the final run."""
    view = EpochView()
    try:
        with view.bars:
            run = client.runs.wait(run_id, poll=1.0, on_progress=view.update)
    except RunFailed as exc:
        if output is OutputFormat.json:
            show(exc.run, output)
        raise
    except KeyboardInterrupt:
        note(f"Stopped watching; run {run_id} goes on (raylane train watch {run_id}).")
        raise typer.Exit(130) from None
    if output is OutputFormat.json:
        show(run, output)
    else:
        scores = run.result.get("evaluation", {})
        note(
            f"train run {run.id} succeeded: accuracy {scores.get('accuracy', 0):.3f}, "
            f"macro-F1 {scores.get('macro_f1', 0):.3f} on {run.result.get('examples', {})}."
        )
    return run


class EpochView:
    """One bar of epochs; its label carries the stage and the latest metrics."""

    def __init__(self) -> None:
        self.bars = progress_bar()
        self._task = self.bars.add_task("queued", total=None)
        self._status: str | None = None

    def update(self, run: RunRead) -> None:
        progress = run.progress
        epoch, epochs = progress.get("epoch"), progress.get("epochs")
        history = progress.get("history") or [{}]
        last = history[-1] if isinstance(history[-1], dict) else {}
        label = str(progress.get("stage") or run.status)
        if "loss" in last:
            label += f" loss {float(last['loss']):.3f}"
        if "val_accuracy" in last:
            label += f" acc {float(last['val_accuracy']):.3f}"
        self.bars.update(
            self._task,
            description=label,
            completed=int(epoch) if isinstance(epoch, int) else 0,
            total=int(epochs) if isinstance(epochs, int) else None,
        )
        if run.status != self._status:
            self.bars.console.print(Text(f"train run {run.id}: {run.status}"))
        self._status = run.status
