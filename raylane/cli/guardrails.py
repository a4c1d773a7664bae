"""``raylane guardrails``: guardrail policies of your organization and its projects.

``check`` exits 1 when the verdict is blocked, so scripts can gate on it.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from raylane.cli.context import YesOpt, api, confirm_or_abort
from raylane.cli.output import OutputFormat, OutputOpt, cell, console, note, show
from raylane.schemas.guardrails import GuardrailCheckResult, GuardrailEffectiveRead

app = typer.Typer(
    help="Guardrail policies (organization and projects) and policy checks.",
    no_args_is_help=True,
)

ProjectOpt = Annotated[
    str | None, typer.Option("--project", help="Project id (default: the organization).")
]
POLICY_FIELDS = ("scope", "project_id", "stored", "updated_at", "policy")
SETTINGS = (
    "injection_threshold",
    "denied_topics",
    "denied_keywords",
    "max_input_tokens",
    "max_output_tokens",
)


class Stage(StrEnum):
    """``--stage`` choices."""

    input = "input"
    context = "context"
    output = "output"


def read_policy(source: str) -> dict[str, Any]:
    """A policy object from a JSON file, or from stdin for ``-``.

    The output of ``raylane guardrails get -o json`` is accepted too: its ``policy`` is used.

    Raises:
        typer.BadParameter: unreadable, not JSON, or not an object.
    """
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {source}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON ({exc.msg}, line {exc.lineno})") from None
    if isinstance(data, dict) and {"scope", "policy"} <= data.keys():
        data = data["policy"]
    if not isinstance(data, dict):
        raise typer.BadParameter('a policy is a JSON object, e.g. {"max_input_tokens": 2000}')
    return data


@app.command("get")
def get_policy(
    ctx: typer.Context,
    project: ProjectOpt = None,
    effective: Annotated[
        bool,
        typer.Option("--effective", help="The merged policy that applies, every field resolved."),
    ] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show the policy stored for the organization or a project (only the fields it sets)."""
    with api(ctx) as client:
        if effective:
            resolved = client.guardrails.effective(project)
            if output is OutputFormat.json:
                show(resolved, output)
            else:
                show_effective(resolved)
            return
        stored = client.guardrails.get_policy(project)
    show(stored, output, fields=POLICY_FIELDS)
    if not stored.stored and output is OutputFormat.table:
        what = "the defaults apply" if project is None else "it inherits the organization's"
        note(f"No policy stored: {what}.")


@app.command("set")
def set_policy(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FILE.json|-", help="Policy JSON; - for stdin.")],
    project: ProjectOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create or replace the policy of the organization or a project.

    Fields left out keep their defaults (organization) or inherit the organization's (project).
    """
    policy = read_policy(source)
    with api(ctx) as client:
        show(client.guardrails.set_policy(policy, project), output, fields=POLICY_FIELDS)


@app.command("clear")
def clear_policy(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", help="Project id.")],
    yes: YesOpt = False,
) -> None:
    """Remove a project's policy so it inherits the organization's."""
    confirm_or_abort(f"Clear the guardrail policy of project {project}?", yes=yes)
    with api(ctx) as client:
        client.guardrails.clear_project_policy(project)
    note(f"Project {project} now inherits the organization's policy.")


@app.command("check")
def check_text(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The text to test; - reads it from stdin.")],
    stage: Annotated[
        Stage, typer.Option(case_sensitive=False, help="input, context or output.")
    ] = Stage.input,
    project: ProjectOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Test a text against the effective policy; exits 1 when it would be blocked.

    A blocked verdict is recorded in the audit log (detectors and actions, never the text).
    """
    if text == "-":
        text = sys.stdin.read()
    with api(ctx) as client:
        result = client.guardrails.check(text, stage=stage.value, project_id=project)
    if output is OutputFormat.json:
        show(result, output)
    else:
        show_check(result)
    if result.blocked:
        raise typer.Exit(1)


def show_effective(resolved: GuardrailEffectiveRead) -> None:
    """Detector rules as a table, then the other settings."""
    table = Table("detector", "enabled", "action", "stages", header_style="bold")
    for name, rule in resolved.policy.detectors.items():
        table.add_row(name, cell(rule.enabled), rule.action, cell(rule.stages))
    out = console()
    out.print(table)
    settings = Table(show_header=False, box=None, pad_edge=False)
    settings.add_column(style="bold")
    settings.add_column(overflow="fold")
    data = resolved.policy.model_dump()
    for name in SETTINGS:
        settings.add_row(name, Text(cell(data[name])))
    out.print(settings)


def show_check(result: GuardrailCheckResult) -> None:
    """Verdict, findings and the redacted text, for people."""
    out = console()
    flag = " (flagged)" if result.flagged else ""
    out.print(Text(f"verdict: {result.verdict}{flag}", style="bold"))
    if result.injection_score is not None:
        out.print(Text(f"injection score: {result.injection_score:.2f}"))
    if result.token_count is not None:
        out.print(Text(f"tokens: {result.token_count}"))
    if result.findings:
        table = Table("detector", "action", "label", "start", "end", "score", header_style="bold")
        for f in result.findings:
            score = None if f.score is None else f"{f.score:.2f}"
            label = Text(cell(f.label or None))
            table.add_row(f.detector, f.action, label, cell(f.start), cell(f.end), cell(score))
        out.print(table)
    else:
        note("No findings.")
    out.print(Text("text:", style="bold"))
    out.print(Text(result.text))
