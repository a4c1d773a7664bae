"""``raylane models``: the model registry (models, versions, aliases)."""

from __future__ import annotations

from typing import Annotated

import typer

from raylane.cli.context import api
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, show, show_many

app = typer.Typer(help="Registered models, their versions and aliases.", no_args_is_help=True)

COLUMNS = ("name", "latest_version", "aliases", "description", "created_at")
VERSION_COLUMNS = ("version", "aliases", "experiment_run_id", "artifact_path", "created_at")
NameArg = Annotated[str, typer.Argument(help="Model name.")]


@app.command("create")
def create_model(
    ctx: typer.Context,
    name: NameArg,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Register a model name."""
    with api(ctx) as client:
        show(client.models.create(name=name, description=description), output)


@app.command("list")
def list_models(
    ctx: typer.Context, limit: LimitOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """List registered models."""
    with api(ctx) as client:
        show_many(fetch(client.models.iter, limit), output, columns=COLUMNS, noun="models")


@app.command("get")
def get_model(ctx: typer.Context, name: NameArg, output: OutputOpt = OutputFormat.table) -> None:
    """Show one model and its aliases."""
    with api(ctx) as client:
        show(client.models.get(name), output)


@app.command("register")
def register_version(
    ctx: typer.Context,
    name: NameArg,
    run: Annotated[str, typer.Option("--run", help="Tracking run id.")],
    artifact: Annotated[str, typer.Option("--artifact", help="The run's artifact path.")],
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Make the model's next version from a tracking run's artifact."""
    with api(ctx) as client:
        version = client.models.create_version(
            name, experiment_run_id=run, artifact_path=artifact, description=description
        )
        show(version, output)


@app.command("versions")
def list_versions(
    ctx: typer.Context, name: NameArg, output: OutputOpt = OutputFormat.table
) -> None:
    """List a model's versions, newest first."""
    with api(ctx) as client:
        items = client.models.versions(name, limit=200).items
        show_many(items, output, columns=VERSION_COLUMNS, noun="versions")


@app.command("version")
def get_version(
    ctx: typer.Context,
    name: NameArg,
    ref: Annotated[str, typer.Argument(help="A version number, an alias or latest.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show one version (by number, alias or latest) with its lineage."""
    with api(ctx) as client:
        show(client.models.get_version(name, ref), output)


@app.command("alias")
def set_alias(
    ctx: typer.Context,
    name: NameArg,
    alias: Annotated[str, typer.Argument(help="e.g. production, staging.")],
    version: Annotated[int, typer.Option("--version", help="Version number to point at.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Point an alias at a version (atomically; prints the previous holder)."""
    with api(ctx) as client:
        show(client.models.set_alias(name, alias, version=version), output)


@app.command("unalias")
def delete_alias(
    ctx: typer.Context,
    name: NameArg,
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
) -> None:
    """Remove an alias."""
    with api(ctx) as client:
        client.models.delete_alias(name, alias)
