"""``raylane runs``: list, inspect, cancel and follow runs (background work such as ingests)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, cast

import typer
from rich.text import Text

from raylane.cli.context import YesOpt, api, confirm_or_abort, fail
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
from raylane.client.resources.runs import RUN_STATUSES
from raylane.schemas.runs import RunRead, RunStatusName

app = typer.Typer(
    help="Runs: background work with a status, progress and logs.", no_args_is_help=True
)

COLUMNS = ("id", "kind", "status", "target_id", "attempts", "created_at", "finished_at")
IdArg = Annotated[str, typer.Argument(help="Run id.")]
IntervalOpt = Annotated[
    float, typer.Option("--interval", min=0, help="Seconds between polls of the run.")
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", min=0, help="Stop watching after this many seconds (default: never)."
    ),
]


def _status(value: str | None) -> str | None:
    if value is not None and value not in RUN_STATUSES:
        raise typer.BadParameter(f"not a run status; one of {', '.join(RUN_STATUSES)}")
    return value


@app.command("list")
def list_runs(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="e.g. ingest.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            callback=_status,
            help=f"One exact status ({', '.join(RUN_STATUSES)}); dead_lettered lists the dead "
            "letters (see runs replay).",
        ),
    ] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project id.")] = None,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List runs, newest first."""
    with api(ctx) as client:
        pages = partial(
            client.runs.iter,
            kind=kind,
            status=cast("RunStatusName | None", status),
            project_id=project,
        )
        show_many(fetch(pages, limit), output, columns=COLUMNS, noun="runs")


@app.command("get")
def get_run(ctx: typer.Context, run_id: IdArg, output: OutputOpt = OutputFormat.table) -> None:
    """Show one run with its progress."""
    with api(ctx) as client:
        show(client.runs.get(run_id), output)


@app.command("logs")
def run_logs(
    ctx: typer.Context,
    run_id: IdArg,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Print new lines as they come until the run ends; exit 0 if it succeeded, "
            "1 if it failed, was dead-lettered or cancelled.",
        ),
    ] = False,
    interval: IntervalOpt = 1.0,
    timeout: TimeoutOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Print the logs of a run's latest attempt (with -f, follow them to the run's end)."""
    if follow:
        follow_logs(ctx, run_id, interval=interval, timeout=timeout, output=output)
        return
    with api(ctx) as client:
        logs = client.runs.logs(run_id)
    if output is OutputFormat.json:
        show(logs, output)
    elif not logs.logs:
        note("No logs yet.")
    else:
        typer.echo(printable(logs.logs), nl=not logs.logs.endswith("\n"))


def follow_logs(
    ctx: typer.Context,
    run_id: str,
    *,
    interval: float,
    timeout: float | None,
    output: OutputFormat,
) -> None:
    """``runs logs -f``: only new text each poll (one JSON object per piece with ``-o json``);
    a new attempt's log is announced on stderr and printed from its start."""
    with api(ctx) as client:
        job: str | None = None
        try:
            for piece in client.runs.follow_logs(run_id, poll=interval, timeout=timeout):
                if job is not None and piece.ray_job_id != job:
                    note(f"run {run_id}: a new attempt (job {piece.ray_job_id})")
                job = piece.ray_job_id
                if output is OutputFormat.json:
                    typer.echo(piece.model_dump_json())
                elif piece.logs:
                    typer.echo(printable(piece.logs), nl=False)
        except TimeoutError as exc:
            fail("timeout", f"{exc}; it goes on (raylane runs logs -f {run_id})")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            note(f"Stopped following; run {run_id} goes on.")
            raise typer.Exit(130) from None
        run = client.runs.get(run_id)
        if run.status != "succeeded":
            raise RunFailed(run)  # printed by ``api``, exit 1
        note(f"{run.kind} run {run.id} succeeded.")


@app.command("replay")
def replay_run(
    ctx: typer.Context,
    run_id: IdArg,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Name this request so a retry returns the same replay (default: random).",
        ),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Replay a dead-lettered run: a new run with fresh attempts, the same kind, target and
    params, linked to it (replay_of). Follow it with: raylane runs watch NEW_ID."""
    with api(ctx) as client:
        show(client.runs.replay(run_id, idempotency_key=idempotency_key), output)


@app.command("cancel")
def cancel_run(
    ctx: typer.Context, run_id: IdArg, yes: YesOpt = False, output: OutputOpt = OutputFormat.table
) -> None:
    """Cancel a run: a queued one ends now, a running one once its job has stopped."""
    confirm_or_abort(f"Cancel run {run_id}?", yes=yes)
    with api(ctx) as client:
        show(client.runs.cancel(run_id), output)


@app.command("watch")
def watch_run(
    ctx: typer.Context,
    run_id: IdArg,
    interval: IntervalOpt = 1.0,
    timeout: TimeoutOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Follow a run with progress bars until it ends.

    Exits 0 when it succeeds, 1 when it fails or is cancelled (printing its error).
    """
    with api(ctx) as client:
        follow(client, run_id, interval=interval, timeout=timeout, output=output)


def follow(
    client: Client, run_id: str, *, interval: float, timeout: float | None, output: OutputFormat
) -> RunRead:
    """Poll a run with progress bars on stderr until it ends; print the final run (JSON on
    stdout with ``-o json``).

    Raises:
        RunFailed: it ended failed or cancelled (the caller's ``api`` block prints it).
        typer.Exit: 1 on timeout, 130 on Ctrl-C; the run goes on in both cases.
    """
    view = RunView()
    try:
        with view.bars:
            run = client.runs.wait(run_id, timeout=timeout, poll=interval, on_progress=view.update)
    except RunFailed as exc:
        if output is OutputFormat.json:
            show(exc.run, output)
        raise
    except TimeoutError as exc:
        fail("timeout", f"{exc}; it goes on (raylane runs watch {run_id})")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        note(
            f"Stopped watching; run {run_id} goes on (stop it with: raylane runs cancel {run_id})."
        )
        raise typer.Exit(130) from None
    if output is OutputFormat.json:
        show(run, output)
    else:
        note(f"{run.kind} run {run.id} succeeded: {counts(run.progress)}.")
    return run


class RunView:
    """Two bars, documents and chunks, fed by every polled run.

    Status changes are printed as lines above the bars; where stderr is not a terminal (the
    bars are drawn only once, at the end) every change of the counts is printed too.
    """

    def __init__(self) -> None:
        self.bars = progress_bar()
        self._documents = self.bars.add_task("documents", total=None)
        self._chunks = self.bars.add_task("chunks", total=None)
        self._status: str | None = None
        self._line: str | None = None

    def update(self, run: RunRead) -> None:
        """Show ``run``'s progress (the ``on_progress`` callback of ``runs.wait``)."""
        progress = run.progress
        for task, name in ((self._documents, "documents"), (self._chunks, "chunks")):
            total = _count(progress, f"{name}_total")
            self.bars.update(
                task, completed=_count(progress, f"{name}_done") or 0, total=total or None
            )
        line = f"{run.kind} run {run.id}: {run.status}, {counts(progress)}"
        if run.status != self._status or (line != self._line and not self.bars.console.is_terminal):
            # Text, not markup: the status comes from the server.
            self.bars.console.print(Text(line))
        self._status, self._line = run.status, line


def counts(progress: dict[str, Any]) -> str:
    """``documents 2/3, chunks 10/40`` (``?`` for a total not known yet)."""
    parts = []
    for name in ("documents", "chunks"):
        done, total = _count(progress, f"{name}_done"), _count(progress, f"{name}_total")
        parts.append(f"{name} {done or 0}/{total if total else '?'}")
    return ", ".join(parts)


def _count(progress: dict[str, Any], key: str) -> int | None:
    value = progress.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def printable(text: str) -> str:
    """Log text without control characters (a job's output could move the cursor or retitle
    the terminal); newlines and tabs stay."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
