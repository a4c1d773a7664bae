"""``raylane orgs``: organizations (tenants). Creating one needs a platform-admin key."""

from __future__ import annotations

from typing import Annotated

import typer

from raylane.cli.context import api
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, note, show, show_many

app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)

COLUMNS = ("id", "slug", "name", "region", "created_at")
IdArg = Annotated[str, typer.Argument(help="Organization id.")]


@app.command("create")
def create_org(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name.")],
    slug: Annotated[str, typer.Option(help="URL-safe unique name, e.g. acme-labs.")],
    owner_email: Annotated[str, typer.Option(help="Email of the first owner.")],
    owner_name: Annotated[str, typer.Option(help="Name of the first owner.")] = "",
    region: Annotated[str | None, typer.Option(help="Home region (default: server's).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create an organization, its owner and the owner's first API key (shown once)."""
    with api(ctx) as client:
        created = client.organizations.create(
            name=name, slug=slug, owner_email=owner_email, owner_name=owner_name, region=region
        )
    if output is OutputFormat.json:
        show(created, output)
    else:
        show(created.organization, output)
        typer.echo(f"owner user id: {created.owner_user_id}")
        typer.echo(f"owner API key: {created.owner_api_key}")
    note("Store the owner API key now: it will not be shown again.")


@app.command("list")
def list_orgs(
    ctx: typer.Context, limit: LimitOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """List the organizations you can see."""
    with api(ctx) as client:
        show_many(
            fetch(client.organizations.iter, limit), output, columns=COLUMNS, noun="organizations"
        )


@app.command("get")
def get_org(ctx: typer.Context, org_id: IdArg, output: OutputOpt = OutputFormat.table) -> None:
    """Show one organization."""
    with api(ctx) as client:
        show(client.organizations.get(org_id), output)


@app.command("update")
def update_org(
    ctx: typer.Context,
    org_id: IdArg,
    name: Annotated[str, typer.Option(help="New display name.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Rename an organization."""
    with api(ctx) as client:
        show(client.organizations.update(org_id, name=name), output)
