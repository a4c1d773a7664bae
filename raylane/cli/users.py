"""``raylane users``: members of your organization."""

from __future__ import annotations

from typing import Annotated

import typer

from raylane.cli.context import YesOpt, api, confirm_or_abort, given
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, note, show, show_many
from raylane.schemas.common import RoleName

app = typer.Typer(help="Members of your organization.", no_args_is_help=True)

COLUMNS = ("id", "email", "name", "role", "is_active", "created_at")
IdArg = Annotated[str, typer.Argument(help="User id.")]


@app.command("create")
def create_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="The user's email.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    role: Annotated[RoleName, typer.Option(help="Role in the organization.")] = "developer",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Add a user to your organization."""
    with api(ctx) as client:
        show(client.users.create(email=email, name=name, role=role), output)


@app.command("list")
def list_users(
    ctx: typer.Context, limit: LimitOpt = None, output: OutputOpt = OutputFormat.table
) -> None:
    """List the members of your organization."""
    with api(ctx) as client:
        show_many(fetch(client.users.iter, limit), output, columns=COLUMNS, noun="users")


@app.command("get")
def get_user(ctx: typer.Context, user_id: IdArg, output: OutputOpt = OutputFormat.table) -> None:
    """Show one member."""
    with api(ctx) as client:
        show(client.users.get(user_id), output)


@app.command("update")
def update_user(
    ctx: typer.Context,
    user_id: IdArg,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    role: Annotated[RoleName | None, typer.Option(help="New role.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Enable or disable the user.")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Change a member's name, role or active state; what is not given stays."""
    if name is None and role is None and active is None:
        raise typer.BadParameter("nothing to change: give --name, --role or --active/--inactive")
    with api(ctx) as client:
        user = client.users.update(
            user_id,
            name=given(name),
            role=given(role),
            is_active=given(active),
        )
        show(user, output)


@app.command("remove")
def remove_user(ctx: typer.Context, user_id: IdArg, yes: YesOpt = False) -> None:
    """Remove a member from your organization and revoke their API keys."""
    confirm_or_abort(f"Remove user {user_id} and revoke their API keys?", yes=yes)
    with api(ctx) as client:
        client.users.remove(user_id)
    note(f"Removed user {user_id}.")
