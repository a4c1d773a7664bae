"""The ``raylane`` command: API commands through the SDK, plus the local runtime's commands."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Annotated

import typer

from raylane.cli import (
    account,
    agent_tests,
    api_keys,
    audit,
    collections,
    conversations,
    copilot,
    datasets,
    documents,
    endpoints,
    experiments,
    flags,
    guardrails,
    local,
    models,
    orgs,
    projects,
    rollouts,
    runs,
    train,
    usage,
    users,
)
from raylane.cli.context import GlobalOptions
from raylane.client import __version__

app = typer.Typer(
    name="raylane",
    help="Raylane: a multi-tenant AI platform on Ray.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Tracebacks with locals would print API keys held in variables.
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"raylane {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Profile from the profile file (default: RAYLANE_PROFILE, then default_profile)."
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="API root (default: RAYLANE_URL, then profile).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key (default: RAYLANE_API_KEY, then profile).")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Raylane: a multi-tenant AI platform on Ray."""
    ctx.obj = GlobalOptions(profile=profile, url=url, api_key=api_key)


app.add_typer(orgs.app, name="orgs")
app.add_typer(users.app, name="users")
# Each group keeps its short command name; the domain's full name also works, unlisted.
app.add_typer(api_keys.app, name="keys")
app.add_typer(api_keys.app, name="api-keys", hidden=True)
app.add_typer(projects.app, name="projects")
app.add_typer(flags.app, name="flags")
app.add_typer(audit.app, name="audit")
app.add_typer(collections.app, name="collections")
app.add_typer(documents.app, name="docs")
app.add_typer(documents.app, name="documents", hidden=True)
app.add_typer(runs.app, name="runs")
app.add_typer(guardrails.app, name="guardrails")
app.add_typer(conversations.app, name="conversations")
app.add_typer(datasets.app, name="datasets")
app.add_typer(experiments.app, name="experiments")
app.add_typer(models.app, name="models")
app.add_typer(train.app, name="train")
app.add_typer(agent_tests.app, name="test")
app.add_typer(rollouts.app, name="rollouts")
app.add_typer(endpoints.app, name="endpoints")
account.register(app)
collections.register(app)
copilot.register(app)
usage.register(app)
local.register(app)
# Cluster commands ship separately; the CLI works with or without them.
if importlib.util.find_spec("raylane.cli.cluster") is not None:
    importlib.import_module("raylane.cli.cluster").register(app)


if __name__ == "__main__":
    app()
