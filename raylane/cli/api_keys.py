"""``raylane keys`` (also ``raylane api-keys``): API keys of your organization."""

from __future__ import annotations

from typing import Annotated

import typer

from raylane.cli.context import YesOpt, api, confirm_or_abort
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, note, show, show_many

app = typer.Typer(help="API keys of your organization.", no_args_is_help=True)

COLUMNS = ("id", "name", "prefix", "user_id", "scopes", "expires_at", "revoked_at")
SHOWN = ("id", "name", "prefix", "user_id", "scopes", "expires_at", "revoked_at", "created_at")
IdArg = Annotated[str, typer.Argument(help="API key id.")]


@app.command("create")
def create_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A label for the key.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", help="Permission to limit the key to; repeat for more (default: *)."
        ),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Lifetime (default: server's).")
    ] = None,
    user_id: Annotated[str | None, typer.Option(help="Owner of the key (default: you).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create an API key and print its secret, which is shown this once only."""
    with api(ctx) as client:
        key = client.api_keys.create(
            name=name, scopes=scope or ("*",), expires_in_days=expires_in_days, user_id=user_id
        )
    if output is OutputFormat.json:
        show(key, output)
    else:
        show(key, output, fields=SHOWN)
        typer.echo(f"secret: {key.secret}")
    note("Store the secret now: it will not be shown again.")


@app.command("list")
def list_keys(
    ctx: typer.Context, limit: LimitOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """List API keys (never their secrets)."""
    with api(ctx) as client:
        show_many(fetch(client.api_keys.iter, limit), output, columns=COLUMNS, noun="API keys")


@app.command("get")
def get_key(ctx: typer.Context, key_id: IdArg, output: OutputOpt = OutputFormat.table) -> None:
    """Show one API key."""
    with api(ctx) as client:
        show(client.api_keys.get(key_id), output)


@app.command("revoke")
def revoke_key(
    ctx: typer.Context, key_id: IdArg, yes: YesOpt = False, output: OutputOpt = OutputFormat.table
) -> None:
    """Revoke an API key; requests with it fail from the next one on."""
    confirm_or_abort(f"Revoke API key {key_id}?", yes=yes)
    with api(ctx) as client:
        show(client.api_keys.revoke(key_id), output)
