"""Top-level commands about the connection itself: ``login``, ``me`` and ``health``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from raylane.cli.context import api, global_options, make_client, reported_errors
from raylane.cli.output import OutputFormat, OutputOpt, cell, console, show
from raylane.client.config import DEFAULT_PROFILE, DEFAULT_URL, load_config, save_profile
from raylane.schemas.health import HealthRead
from raylane.schemas.tenancy import MeRead


def register(app: typer.Typer) -> None:
    """Add ``login``, ``me`` and ``health`` to the top-level app."""
    app.command("login")(login)
    app.command("me")(me)
    app.command("health")(health)


def login(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="API root (prompted).")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key, rl_... (prompted, hidden).")] = None,
    profile: Annotated[str | None, typer.Option(help="Profile to save (default: default).")] = None,
    make_default: Annotated[
        bool, typer.Option("--default", help="Make this the default profile.")
    ] = False,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check the key against the API first.")
    ] = True,
) -> None:
    """Save a URL and API key as a profile in the profile file (mode 0600)."""
    opts = global_options(ctx)
    name = profile or opts.profile or DEFAULT_PROFILE
    with reported_errors():
        known = load_config().profiles.get(name)
        suggested = known.url if known is not None and known.url else DEFAULT_URL
        url = url or opts.url or typer.prompt("API URL", default=suggested)
        key = api_key or opts.api_key or typer.prompt("API key", hide_input=True)
        who = ""
        if verify:
            with make_client(url=url, api_key=key) as client:
                me = client.me()
            who = f" as {me.email} ({me.organization.slug}, {me.role})"
        path = save_profile(name, url=url, api_key=key, make_default=make_default)
    typer.echo(f"Logged in to {url}{who}; saved profile {name!r} in {path}.")


def me(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """Show who the API key belongs to: user, organization, role and permissions."""
    with api(ctx) as client:
        identity = client.me()
    if output is OutputFormat.json:
        show(identity, output)
        return
    _show_me(identity)


def health(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """Show the server's health; exit 1 when it is degraded."""
    with api(ctx) as client:
        report = client.health()
    if output is OutputFormat.json:
        show(report, output)
    else:
        _show_health(report)
    if report.status != "ok":
        raise typer.Exit(1)


def _show_me(identity: MeRead) -> None:
    org = identity.organization
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in (
        ("user_id", identity.user_id),
        ("email", identity.email),
        ("name", identity.name),
        ("organization", f"{org.name} ({org.slug}, {org.id})"),
        ("region", org.region),
        ("role", identity.role),
        ("platform admin", identity.is_platform_admin),
        ("api_key_id", identity.api_key_id),
        ("permissions", sorted(identity.permissions)),
    ):
        table.add_row(name, Text(cell(value)))
    console().print(table)


def _show_health(report: HealthRead) -> None:
    table = Table(
        "component", "status", "latency ms", "detail", title=Text(f"status: {report.status}")
    )
    for name, comp in sorted(report.components.items()):
        style = "green" if comp.status == "up" else "red"
        table.add_row(
            Text(name),
            Text(comp.status, style=style),
            f"{comp.latency_ms:.1f}",
            Text(cell(comp.detail)),
        )
    console().print(table)
