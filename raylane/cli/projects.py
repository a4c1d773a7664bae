"""``raylane projects``: create, list, get, update and delete projects."""

from __future__ import annotations

from typing import Annotated

import typer

from raylane.cli.context import YesOpt, api, confirm_or_abort, given
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, note, show, show_many

app = typer.Typer(help="Projects of your organization.", no_args_is_help=True)

COLUMNS = ("id", "name", "description", "created_at")
IdArg = Annotated[str, typer.Argument(help="Project id.")]


@app.command("create")
def create_project(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Unique within the organization.")],
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a project."""
    with api(ctx) as client:
        show(client.projects.create(name=name, description=description), output)


@app.command("list")
def list_projects(
    ctx: typer.Context, limit: LimitOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """List projects, oldest first."""
    with api(ctx) as client:
        show_many(fetch(client.projects.iter, limit), output, columns=COLUMNS, noun="projects")


@app.command("get")
def get_project(
    ctx: typer.Context, project_id: IdArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Show one project."""
    with api(ctx) as client:
        show(client.projects.get(project_id), output)


@app.command("update")
def update_project(
    ctx: typer.Context,
    project_id: IdArg,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    clear_description: Annotated[
        bool, typer.Option("--clear-description", help="Remove the description.")
    ] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Change a project's name or description; what is not given stays."""
    if description is not None and clear_description:
        raise typer.BadParameter("give --description or --clear-description, not both")
    if name is None and description is None and not clear_description:
        raise typer.BadParameter(
            "nothing to change: give --name, --description or --clear-description"
        )
    with api(ctx) as client:
        project = client.projects.update(
            project_id,
            name=given(name),
            description=None if clear_description else given(description),
        )
        show(project, output)


@app.command("delete")
def delete_project(ctx: typer.Context, project_id: IdArg, yes: YesOpt = False) -> None:
    """Delete a project."""
    confirm_or_abort(f"Delete project {project_id}?", yes=yes)
    with api(ctx) as client:
        client.projects.delete(project_id)
    note(f"Deleted project {project_id}.")
