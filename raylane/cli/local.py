"""Local-runtime commands: ``up``, ``down``, ``status``, ``db``; they import server code lazily."""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
db_app = typer.Typer(help="Database schema commands (run as the owner role).", no_args_is_help=True)

if TYPE_CHECKING:
    from raylane.config import Settings


def _settings() -> Settings:
    from raylane.config import get_settings

    return get_settings()


def up() -> None:
    """Start the platform on embedded defaults (or the configured services) and deploy the API."""
    from raylane.core.bootstrap.service import ensure_demo, ensure_platform_admin
    from raylane.infra import runtime
    from raylane.infra.db import migrate
    from raylane.serve.deploy import deploy

    settings = _settings()
    # Ray reads its auth mode at import: the environment must be right before anything imports it.
    os.environ.update(runtime.ray_env(settings))
    with console.status("Starting Postgres and Redis"):
        runtime.start_stores(settings)
    console.print("[green]✓[/] Postgres and Redis")
    with console.status("Applying migrations"):
        migrate.upgrade(settings)
    console.print(f"[green]✓[/] schema at {migrate.current_revision(settings)}")
    with console.status("Starting Ray"):
        runtime.start_ray(settings)
    console.print(f"[green]✓[/] Ray at {runtime.gcs_address(settings)}")
    with console.status("Deploying the Serve app (first start takes a minute)"):
        url = deploy(settings)
    console.print("[green]✓[/] Serve app 'raylane'")
    created = asyncio.run(ensure_platform_admin(settings))
    console.print(f"\nAPI        {url}   (docs {url}/docs)")
    console.print(f"Console    {url}/console")
    console.print(f"Dashboard  {runtime.dashboard_url(settings)}")
    if created is not None:
        org_id, user_id, token = created
        run_id = asyncio.run(ensure_demo(settings, organization_id=org_id, user_id=user_id))
        console.print(
            f"\nDemo: project 'demo' with Raylane's docs is being ingested (run {run_id}).\n"
            f'  raylane runs watch {run_id}\n  raylane chat "How do I scale embeddings?"'
        )
        _save_profile(url, token)
        console.print(
            "\n[bold]Bootstrap admin API key[/] (shown once; saved to your 'local' CLI profile):"
        )
        typer.echo(token)


def _save_profile(url: str, token: str) -> None:
    try:
        from raylane.client.config import save_profile
    except ImportError:
        return
    save_profile("local", url=url, api_key=token, make_default=True)


def down() -> None:
    """Stop everything ``raylane up`` started (Ray, Redis, Postgres); data stays in the data dir."""
    from raylane.infra import runtime

    stopped = runtime.stop_all(_settings())
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def status(
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Report each part of the local runtime, and the API's health."""
    from raylane.infra import runtime
    from raylane.serve.deploy import api_url

    settings = _settings()
    parts = [(p.name, p.running, p.detail) for p in runtime.status(settings)]
    url = api_url(settings)
    parts.append(("api", _api_up(url), url))
    if output == "json":
        typer.echo(json.dumps([{"name": n, "running": r, "detail": d} for n, r, d in parts]))
    else:
        table = Table("part", "state", "detail")
        for name, running, detail in parts:
            table.add_row(name, "[green]running[/]" if running else "[red]stopped[/]", detail)
        Console().print(table)
    if not all(r for _, r, _ in parts):
        raise typer.Exit(1)


def _api_up(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/api/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations (creates the application role if the owner may)."""
    from raylane.infra.db import migrate

    settings = _settings()
    if settings.embedded_database:
        from raylane.infra.db import embedded

        embedded.start(settings.data_dir)
    migrate.upgrade(settings, revision=revision)
    console.print(f"database at {migrate.current_revision(settings)}")


@db_app.command("reindex")
def db_reindex() -> None:
    """Give every collection over the size threshold its own search index and drop indexes of
    deleted collections (after an upgrade from the shared index; safe to repeat)."""
    from raylane.core.collections.service import search_index_service

    settings = _settings()
    if settings.embedded_database:
        from raylane.infra.db import embedded

        embedded.start(settings.data_dir)
    with console.status("Building search indexes (CONCURRENTLY: writes go on meanwhile)"):
        built = asyncio.run(search_index_service.reconcile())
    console.print(f"[green]✓[/] {built} search index(es) built")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision."""
    from raylane.infra.db import migrate

    typer.echo(migrate.current_revision(_settings()) or "none")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.add_typer(db_app, name="db")
