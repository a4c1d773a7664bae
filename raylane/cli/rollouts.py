"""``raylane rollouts``: canary rollouts on endpoints, started, followed live, held or stopped.

    raylane rollouts start EP_ID --canary 4 --steps 5,25,50,100 --interval 60 \\
        --suite smoke --min-score 0.8 --watch
    raylane rollouts watch ROLLOUT_ID      # exit 0 promoted, 1 rolled back or aborted
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from raylane.cli.context import api
from raylane.cli.output import OutputFormat, OutputOpt, console, note, show, show_many
from raylane.client import Client
from raylane.schemas.rollouts import RolloutEvent, RolloutRead

app = typer.Typer(help="Canary rollouts: weight steps, analyses, promotion or rollback.")

COLUMNS = ("id", "status", "canary_label", "stable_label", "step", "weight", "created_at")
DETAIL = (
    "id",
    "endpoint_id",
    "status",
    "canary_label",
    "stable_label",
    "step",
    "steps",
    "weight",
    "failed_analyses",
    "test_run_id",
    "reason",
    "step_started_at",
    "created_at",
    "finished_at",
)
TERMINAL = {"promoted", "rolled_back", "aborted"}
RolloutArg = Annotated[str, typer.Argument(help="Rollout id.")]


def _steps(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter("comma-separated percents, e.g. 5,25,50,100") from None


def _side(figures: dict[str, Any]) -> str:
    p95 = figures.get("p95_ms")
    return (
        f"{figures.get('requests', 0)} req, {100 * float(figures.get('error_rate') or 0):.1f}% "
        f"errors, p95 {'-' if p95 is None else f'{p95:.0f} ms'}"
    )


def describe(event: RolloutEvent, steps: int) -> str:
    """One line for one history entry: the step, the weight, the verdict and its figures."""
    at = event.at.strftime("%H:%M:%S")
    head = f"{at} step {event.step + 1}/{steps}"
    if event.event == "analysis":
        figures = event.figures
        line = f"{head} analysis {(event.verdict or '').upper()}"
        if "canary" in figures:
            line += f" · canary {_side(figures['canary'])}"
        if "stable" in figures:
            line += f" · stable {_side(figures['stable'])}"
        suite = figures.get("suite")
        if isinstance(suite, dict) and suite.get("score") is not None:
            line += f" · suite {float(suite['score']):.3f} (min {suite.get('min_score')})"
        if event.reasons:
            line += f" — {'; '.join(event.reasons)}"
        return line
    weight = "" if event.weight is None else f" weight {event.weight}%"
    why = f" — {'; '.join(event.reasons)}" if event.reasons else ""
    return f"{head} {event.event}{weight}{why}"


def follow(client: Client, rollout_id: str, *, poll: float = 1.0) -> RolloutRead:
    """Print each new history entry as it comes until the rollout ends; the final rollout."""
    seen = 0
    while True:
        rollout = client.rollouts.get(rollout_id)
        for entry in rollout.history[seen:]:
            console().print(
                describe(entry, rollout.steps), highlight=False, markup=False, soft_wrap=True
            )
        seen = len(rollout.history)
        if rollout.status in TERMINAL:
            return rollout
        time.sleep(poll)


def _watch(client: Client, rollout_id: str, poll: float = 1.0) -> None:
    try:
        final = follow(client, rollout_id, poll=poll)
    except KeyboardInterrupt:
        note(
            f"Stopped watching; rollout {rollout_id} goes on (raylane rollouts show {rollout_id})."
        )
        raise typer.Exit(130) from None
    note(f"rollout {final.id}: {final.status}" + (f" ({final.reason})" if final.reason else ""))
    if final.status != "promoted":
        raise typer.Exit(1)


@app.command("start")
def start(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="Endpoint id.")],
    canary: Annotated[int, typer.Option("--canary", min=1, help="The version to roll out.")],
    steps: Annotated[
        str | None, typer.Option(help="Canary weights per step, ascending to 100.")
    ] = None,
    interval: Annotated[
        int | None, typer.Option(min=1, help="Seconds of traffic per analysis.")
    ] = None,
    max_failed: Annotated[
        int | None, typer.Option("--max-failed", min=1, help="Failed analyses before rollback.")
    ] = None,
    max_error_rate: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    min_requests: Annotated[int | None, typer.Option(min=1)] = None,
    suite: Annotated[
        str | None, typer.Option(help="An agent-test suite run against the canary each step.")
    ] = None,
    min_score: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.8,
    watch: Annotated[bool, typer.Option("--watch", help="Follow it live until it ends.")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Start a rollout of version CANARY on ENDPOINT."""
    policy: dict[str, Any] = {}
    if steps is not None:
        policy["steps"] = _steps(steps)
    if interval is not None:
        policy["interval_s"] = interval
    if max_failed is not None:
        policy["max_failed_analyses"] = max_failed
    checks: dict[str, Any] = {}
    if max_error_rate is not None:
        checks["max_error_rate"] = max_error_rate
    if min_requests is not None:
        checks["min_requests"] = min_requests
    if checks:
        policy["checks"] = checks
    if suite is not None:
        policy["suite"] = {"name": suite, "min_score": min_score}
    with api(ctx) as client:
        rollout = client.rollouts.start(endpoint, canary=canary, policy=policy or None)
        if not watch:
            show(rollout, output, fields=COLUMNS)
            return
        note(f"rollout {rollout.id}: {rollout.canary_label} over {rollout.stable_label}")
        _watch(client, str(rollout.id))


@app.command("list")
def list_rollouts(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="Endpoint id.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """The endpoint's rollouts, newest first."""
    with api(ctx) as client:
        show_many(client.rollouts.list(endpoint), output, columns=COLUMNS, noun="rollouts")


@app.command("show")
def show_rollout(
    ctx: typer.Context, rollout_id: RolloutArg, output: OutputOpt = OutputFormat.table
) -> None:
    """A rollout: status, step, weight, failed analyses, and its history."""
    with api(ctx) as client:
        rollout = client.rollouts.get(rollout_id)
        show(rollout, output, fields=DETAIL)
        if output is OutputFormat.table:
            for entry in rollout.history:
                console().print(
                    describe(entry, rollout.steps), highlight=False, markup=False, soft_wrap=True
                )


@app.command("watch")
def watch_rollout(
    ctx: typer.Context,
    rollout_id: RolloutArg,
    poll: Annotated[float, typer.Option(min=0.0, help="Seconds between polls.")] = 1.0,
) -> None:
    """Follow a rollout live (steps, weights, each analysis with its figures); exit 0 when
    promoted, 1 when rolled back or aborted."""
    with api(ctx) as client:
        rollout = client.rollouts.get(rollout_id)
        note(f"rollout {rollout.id}: {rollout.canary_label} over {rollout.stable_label}")
        _watch(client, rollout_id, poll)


def _act(ctx: typer.Context, rollout_id: str, action: str, output: OutputFormat) -> None:
    with api(ctx) as client:
        rollout = getattr(client.rollouts, action)(rollout_id)
        show(rollout, output, fields=COLUMNS)


@app.command("pause")
def pause(
    ctx: typer.Context, rollout_id: RolloutArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Hold the rollout at its step."""
    _act(ctx, rollout_id, "pause", output)


@app.command("resume")
def resume(
    ctx: typer.Context, rollout_id: RolloutArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Go on from the held step."""
    _act(ctx, rollout_id, "resume", output)


@app.command("promote")
def promote(
    ctx: typer.Context, rollout_id: RolloutArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Make the canary stable now."""
    _act(ctx, rollout_id, "promote", output)


@app.command("abort")
def abort(
    ctx: typer.Context, rollout_id: RolloutArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Stop the rollout: the canary's weight goes to 0."""
    _act(ctx, rollout_id, "abort", output)
