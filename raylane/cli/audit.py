"""``raylane audit``: browse the audit log and verify its hash chain."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated

import typer

from raylane.cli.context import api, fail
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, show, show_many

app = typer.Typer(help="The organization's tamper-evident audit log.", no_args_is_help=True)

COLUMNS = ("seq", "created_at", "action", "actor_id", "target_type", "target_id")
_AGO = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
WHEN_HELP = "ISO 8601 time (UTC unless an offset is given) or an age such as 30m, 12h, 7d."


def parse_when(raw: str | None, option: str) -> datetime | None:
    """``--since``/``--until``: an ISO time, or an age like ``7d`` counted back from now.

    Raises:
        typer.BadParameter: neither form.
    """
    if raw is None:
        return None
    ago = _AGO.match(raw.strip())
    if ago:
        return datetime.now(UTC) - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise typer.BadParameter(f"{raw!r}: {WHEN_HELP}", param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.command("events")
def list_events(
    ctx: typer.Context,
    action: Annotated[
        str | None, typer.Option(help="Exact action, or a prefix ending in *, e.g. 'project.*'.")
    ] = None,
    target_type: Annotated[str | None, typer.Option(help="e.g. project, api_key.")] = None,
    target_id: Annotated[str | None, typer.Option(help="The target's id.")] = None,
    actor_id: Annotated[str | None, typer.Option(help="The acting user's id.")] = None,
    since: Annotated[str | None, typer.Option(help=f"Events from then on. {WHEN_HELP}")] = None,
    until: Annotated[str | None, typer.Option(help=f"Events before then. {WHEN_HELP}")] = None,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List audit events, newest first."""
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    with api(ctx) as client:
        pages = partial(
            client.audit.iter_events,
            action=action,
            target_type=target_type,
            target_id=target_id,
            actor_id=actor_id,
            since=start,
            until=end,
        )
        show_many(fetch(pages, limit), output, columns=COLUMNS, noun="audit events")


@app.command("verify")
def verify_chain(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """Recompute the hash chain; exit 1 and name the first broken link if it is broken."""
    with api(ctx) as client:
        report = client.audit.verify()
    show(report, output)
    if not report.ok:
        fail(
            "audit_chain_broken",
            f"first broken link at seq {report.first_broken_seq} "
            f"(event {report.first_broken_id}): {report.reason or 'hash mismatch'}",
        )
        raise typer.Exit(1)
