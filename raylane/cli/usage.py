"""``raylane usage``: the organization's copilot requests and tokens per day."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from raylane.cli.context import api
from raylane.cli.output import OutputFormat, OutputOpt, console, show
from raylane.schemas.copilot import UsageRead


def register(app_: typer.Typer) -> None:
    """Add ``usage`` to the top-level app."""
    app_.command("usage")(usage)


def usage(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", min=1, max=90, help="Days to show.")] = 7,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show the organization's copilot requests and tokens per day, and today's quota."""
    with api(ctx) as client:
        report = client.usage(days=days)
    if output is OutputFormat.json:
        show(report, output)
        return
    show_usage(report)


def show_usage(report: UsageRead) -> None:
    """Today against the quota, then one row per day."""
    quota = report.daily_token_quota
    if quota:
        share = 100 * report.tokens_used_today / quota
        typer.echo(f"Today: {report.tokens_used_today:,} of {quota:,} tokens ({share:.1f}%)")
    else:
        typer.echo(f"Today: {report.tokens_used_today:,} tokens (no daily quota)")
    table = Table("day", "requests", "input tokens", "output tokens", header_style="bold")
    for day in report.days:
        table.add_row(
            day.day.isoformat(),
            f"{day.requests:,}",
            f"{day.input_tokens:,}",
            f"{day.output_tokens:,}",
        )
    console().print(table)
