"""``raylane flags``: feature flags of your organization."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from raylane.cli.context import YesOpt, api, confirm_or_abort
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, note, show, show_many

app = typer.Typer(help="Feature flags of your organization.", no_args_is_help=True)

COLUMNS = ("key", "enabled", "value", "description", "updated_at")
KeyArg = Annotated[str, typer.Argument(help="Flag key, e.g. copilot.streaming.")]


def _json_value(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"not JSON ({exc.msg}); quote strings, e.g. --value '\"blue\"'", param_hint="--value"
        ) from None


@app.command("list")
def list_flags(
    ctx: typer.Context, limit: LimitOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """List feature flags."""
    with api(ctx) as client:
        show_many(fetch(client.feature_flags.iter, limit), output, columns=COLUMNS, noun="flags")


@app.command("get")
def get_flag(ctx: typer.Context, key: KeyArg, output: OutputOpt = OutputFormat.table) -> None:
    """Show one feature flag."""
    with api(ctx) as client:
        show(client.feature_flags.get(key), output)


@app.command("set")
def set_flag(
    ctx: typer.Context,
    key: KeyArg,
    enabled: Annotated[bool, typer.Option("--enabled/--disabled", help="Turn the flag on or off.")],
    value: Annotated[
        str | None, typer.Option(help="A JSON value the flag carries, e.g. 0.25 or '{\"k\": 1}'.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the flag is for.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create or replace a feature flag."""
    parsed = _json_value(value)
    with api(ctx) as client:
        flag = client.feature_flags.set(key, enabled=enabled, value=parsed, description=description)
        show(flag, output)


@app.command("delete")
def delete_flag(ctx: typer.Context, key: KeyArg, yes: YesOpt = False) -> None:
    """Delete a feature flag."""
    confirm_or_abort(f"Delete flag {key}?", yes=yes)
    with api(ctx) as client:
        client.feature_flags.delete(key)
    note(f"Deleted flag {key}.")
