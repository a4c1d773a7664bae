"""``raylane experiments``: experiments, tracking runs, their metrics and artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raylane.cli.context import api
from raylane.cli.output import (
    LimitOpt,
    OutputFormat,
    OutputOpt,
    _echo_json,
    fetch,
    note,
    show,
    show_many,
)

app = typer.Typer(help="Experiments and their tracking runs.", no_args_is_help=True)

COLUMNS = ("id", "name", "description", "created_at")
RUN_COLUMNS = ("id", "name", "status", "metrics", "params", "started_at")
ProjectOpt = Annotated[str, typer.Option("--project", help="Project id.")]
RunArg = Annotated[str, typer.Argument(help="Tracking run id.")]


@app.command("create")
def create_experiment(
    ctx: typer.Context,
    project: ProjectOpt,
    name: Annotated[str, typer.Option(help="Unique within the project.")],
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create an experiment."""
    with api(ctx) as client:
        show(client.experiments.create(project, name=name, description=description), output)


@app.command("list")
def list_experiments(
    ctx: typer.Context, project: ProjectOpt, output: OutputOpt = OutputFormat.table
) -> None:
    """List the project's experiments."""
    with api(ctx) as client:
        items = client.experiments.list(project, limit=200).items
        show_many(items, output, columns=COLUMNS, noun="experiments")


@app.command("runs")
def list_runs(
    ctx: typer.Context,
    experiment_id: Annotated[str, typer.Argument(help="Experiment id.")],
    filter: Annotated[
        str | None,
        typer.Option(help="e.g. \"metric.accuracy > 0.8 and tag.team = 'nlp'\""),
    ] = None,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List an experiment's runs, newest first, matching --filter."""
    with api(ctx) as client:
        items = fetch(
            lambda page_size: client.experiments.iter_runs(
                experiment_id, filter=filter, page_size=page_size
            ),
            limit,
        )
        show_many(items, output, columns=RUN_COLUMNS, noun="runs")


@app.command("run")
def get_run(ctx: typer.Context, run_id: RunArg, output: OutputOpt = OutputFormat.table) -> None:
    """Show one tracking run: params, latest metrics, tags."""
    with api(ctx) as client:
        show(client.experiments.get_run(run_id), output)


@app.command("history")
def metric_history(
    ctx: typer.Context,
    run_id: RunArg,
    key: Annotated[str | None, typer.Option(help="One metric (default: every one).")] = None,
) -> None:
    """Print a run's metric histories as JSON."""
    with api(ctx) as client:
        _echo_json(
            [h.model_dump(mode="json") for h in client.experiments.metric_history(run_id, key=key)]
        )


@app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more tracking run ids.")],
) -> None:
    """Compare runs: the params that differ and every metric's points, as JSON."""
    with api(ctx) as client:
        _echo_json(client.experiments.compare(run_ids).model_dump(mode="json"))


@app.command("end")
def end_run(
    ctx: typer.Context,
    run_id: RunArg,
    status: Annotated[str, typer.Option(help="finished, failed or killed.")] = "finished",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """End a tracking run."""
    if status not in ("finished", "failed", "killed"):
        raise typer.BadParameter("--status is finished, failed or killed")
    with api(ctx) as client:
        show(client.experiments.end_run(run_id, status=status), output)  # type: ignore[arg-type]


@app.command("artifacts")
def list_artifacts(
    ctx: typer.Context, run_id: RunArg, output: OutputOpt = OutputFormat.table
) -> None:
    """List a run's artifacts."""
    with api(ctx) as client:
        items = client.experiments.list_artifacts(run_id, limit=200).items
        show_many(items, output, columns=("id", "path", "size", "created_at"), noun="artifacts")


@app.command("download-artifact")
def download_artifact(
    ctx: typer.Context,
    run_id: RunArg,
    artifact_id: Annotated[str, typer.Argument(help="Artifact id.")],
    to: Annotated[Path, typer.Option("--to", help="File to write.")],
) -> None:
    """Save an artifact's bytes to a file."""
    with api(ctx) as client:
        to.write_bytes(client.experiments.download_artifact(run_id, artifact_id))
    note(f"wrote {to}")
