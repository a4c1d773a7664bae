"""``raylane train``: start training runs (Ray Train, or a Tune search) and follow them with a
live progress bar of epochs, loss and held-out accuracy."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import typer
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
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default 10).")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Batch size.")] = None,
    hidden: Annotated[int | None, typer.Option(min=0, help="MLP width (0: linear).")] = None,
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
