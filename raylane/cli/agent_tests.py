"""``raylane test``: run agent-test suites against a copilot, a model or an external agent, with a
live progress bar; gate CI on the score (exit 1 under ``--fail-under``) and write a JUnit file.

    raylane test run suite.yaml --target copilot:demo --fail-under 0.9 --junit out.xml
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from raylane.cli.context import api
from raylane.cli.output import (
    LimitOpt,
    OutputFormat,
    OutputOpt,
    console,
    fetch,
    note,
    progress_bar,
    show,
    show_many,
)
from raylane.client import Client, RunFailed
from raylane.schemas.agent_tests import TestRunRead
from raylane.schemas.runs import RunRead

app = typer.Typer(help="Agent tests: run suites of cases against a target and score them.")

ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Project id or name.")]
RUN_COLUMNS = ("id", "status", "suite", "suite_version", "target", "created_at")
RESULT_COLUMNS = ("case_id", "status", "score", "latency_ms", "error")


def project_id(client: Client, project: str) -> str:
    """A project id from an id or a name.

    Raises:
        typer.BadParameter: no project of the organization has that name.
    """
    try:
        return str(uuid.UUID(project))
    except ValueError:
        pass
    for found in client.projects.iter():
        if found.name == project:
            return str(found.id)
    raise typer.BadParameter(f"no project named {project!r}", param_hint="--project")


def read_suite(path: Path) -> str:
    """The suite file's text.

    Raises:
        typer.BadParameter: it cannot be read as UTF-8 text.
    """
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}") from exc


def split_target(target: str, project: str | None) -> tuple[str, str]:
    """(project, the API's target string) from ``--target`` and ``--project``.

    ``copilot:<project>`` names the project itself; ``copilot``, ``model:...`` and
    ``target:...`` need ``--project``.

    Raises:
        typer.BadParameter: no project given or implied.
    """
    if target.startswith("copilot:"):
        return target[len("copilot:") :], "copilot"
    if project is None:
        raise typer.BadParameter(
            "give --project (or --target copilot:<project>)", param_hint="--project"
        )
    return project, target


@app.command("run")
def run_suite(
    ctx: typer.Context,
    suite_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The suite (YAML or JSON).")
    ],
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="copilot:<project>, copilot, model:NAME@ALIAS, model:NAME:VERSION or "
            "target:NAME (a stored external agent).",
        ),
    ],
    project: ProjectOpt = None,
    name: Annotated[
        str | None, typer.Option(help="The suite's name (default: the file's name).")
    ] = None,
    fail_under: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Exit 1 when the weighted score is below this (default: the suite's threshold).",
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(help="Write a JUnit XML report here (one test case per case).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64)] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Upload the suite (a new version when it changed), run it, follow it, and gate on it."""
    project_ref, target_ref = split_target(target, project)
    content = read_suite(suite_file)
    with api(ctx) as client:
        pid = project_id(client, project_ref)
        suite_name = name or suite_file.stem
        version = client.agent_tests.add_suite(pid, suite_name, content)
        note(f"suite {suite_name} version {version.version} ({version.cases} cases)")
        run = client.agent_tests.start(
            pid,
            suite=suite_name,
            version=version.version,
            target=target_ref,
            concurrency=concurrency,
        )
        final = follow(client, str(run.id))
        if junit is not None:
            junit.write_text(client.agent_tests.junit(final.id), encoding="utf-8")
            note(f"JUnit report: {junit}")
        failures = [
            case.model_copy(update={"latency_ms": round(case.latency_ms or 0.0)})
            for status in ("failed", "error")
            for case in client.agent_tests.results(final.id, status=status)
        ]
    summary = final.summary
    if output is OutputFormat.json:
        show(final, output)
    elif failures:
        show_many(failures, output, columns=RESULT_COLUMNS, noun="failing cases")
    if summary is None:
        raise typer.Exit(1)
    gate = summary.threshold if fail_under is None else fail_under
    note(
        f"{summary.passed}/{summary.cases} passed (pass rate {summary.pass_rate:.3f}), "
        f"score {summary.score:.3f} (gate {gate:.3f}), {summary.errors} errors; "
        f"p50 {summary.latency_p50_ms or 0:.0f} ms, p95 {summary.latency_p95_ms or 0:.0f} ms"
    )
    if summary.score < gate:
        raise typer.Exit(1)


def follow(client: Client, run_id: str) -> TestRunRead:
    """Poll the run with a bar of cases done on stderr; the finished test run."""
    bars = progress_bar()
    task = bars.add_task("queued", total=None)
    status: list[str] = []

    def update(run: RunRead) -> None:
        p = run.progress
        label = f"{p.get('stage') or run.status} ✓{p.get('passed', 0)} ✗{p.get('failed', 0)}"
        label += f" !{p.get('error', 0)}"
        total = p.get("cases_total")
        bars.update(
            task,
            description=label,
            completed=int(p.get("cases_done") or 0),
            total=int(total) if isinstance(total, int) else None,
        )
        if not status or status[-1] != run.status:
            bars.console.print(Text(f"test run {run.id}: {run.status}"))
            status.append(run.status)

    try:
        with bars:
            client.runs.wait(run_id, poll=0.5, on_progress=update)
    except RunFailed as exc:
        note(f"test run {run_id} {exc.run.status}: {exc.run.error or ''}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        note(f"Stopped watching; test run {run_id} goes on (raylane test show {run_id}).")
        raise typer.Exit(130) from None
    return client.agent_tests.get(run_id)


@app.command("add")
def add_suite(
    ctx: typer.Context,
    suite_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The suite (YAML or JSON).")
    ],
    project: Annotated[str, typer.Option("--project", "-p", help="Project id or name.")],
    name: Annotated[
        str | None, typer.Option(help="The suite's name (default: the file's name).")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Store the suite as its next version (the same document again: that version)."""
    content = read_suite(suite_file)
    with api(ctx) as client:
        version = client.agent_tests.add_suite(
            project_id(client, project), name or suite_file.stem, content
        )
    show(version, output)


@app.command("suites")
def list_suites(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", "-p", help="Project id or name.")],
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """The project's suites and their latest versions."""
    with api(ctx) as client:
        pid = project_id(client, project)
        show_many(
            fetch(lambda **kw: client.agent_tests.suites(pid, **kw), limit),
            output,
            columns=("id", "name", "latest_version", "created_at"),
            noun="suites",
        )


@app.command("list")
def list_runs(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", "-p", help="Project id or name.")],
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """The project's test runs, newest first."""
    with api(ctx) as client:
        pid = project_id(client, project)
        show_many(
            fetch(lambda **kw: client.agent_tests.runs(pid, **kw), limit),
            output,
            columns=RUN_COLUMNS,
            noun="test runs",
        )


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Test run id.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """A test run with its progress and summary."""
    with api(ctx) as client:
        show(client.agent_tests.get(run_id), output)


@app.command("results")
def results(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Test run id.")],
    status: Annotated[str | None, typer.Option(help="Only passed, failed or error cases.")] = None,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Each case's status, score, latency and error."""
    with api(ctx) as client:
        rows = fetch(lambda **kw: client.agent_tests.results(run_id, status=status, **kw), limit)
        show_many(rows, output, columns=RESULT_COLUMNS, noun="case results")


@app.command("compare")
def compare(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The newer test run.")],
    base_run_id: Annotated[str, typer.Argument(help="The run to compare against.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Regressions (passed → failed) and fixes between two runs; exit 1 on any regression."""
    with api(ctx) as client:
        found = client.agent_tests.compare(run_id, base_run_id)
    if output is OutputFormat.json:
        show(found, output)
    else:
        out = console()
        for change in found.regressions:
            out.print(Text(f"REGRESSION {change.case_id}: {change.before} → {change.after}"))
        for change in found.fixes:
            out.print(Text(f"fixed      {change.case_id}: {change.before} → {change.after}"))
        note(
            f"{len(found.regressions)} regressions, {len(found.fixes)} fixes; score "
            f"{found.score_delta:+.3f}, pass rate {found.pass_rate_delta:+.3f}"
        )
    if found.regressions:
        raise typer.Exit(1)
