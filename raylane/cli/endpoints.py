"""``raylane endpoints``: endpoints (a stable and a canary version behind one URL) and copilot
configurations.

    raylane endpoints config-add PROJECT_ID support --spec spec.json
    raylane endpoints create PROJECT_ID topics --kind model --subject topics --stable production
    raylane endpoints split EP_ID --canary 4 --weight 10
    raylane endpoints predict EP_ID "some text" --key user-42
    raylane endpoints metrics EP_ID
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from raylane.cli.context import api
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, note, show, show_many

app = typer.Typer(
    help="Endpoints with a canary split, and versioned copilot configurations.",
    no_args_is_help=True,
)

COLUMNS = ("id", "name", "kind", "subject", "stable_label", "canary_label", "canary_weight")
CONFIG_COLUMNS = ("id", "name", "latest_version", "created_at")
VERSION_COLUMNS = ("version", "digest", "created_at")
ProjectArg = Annotated[str, typer.Argument(help="Project id.")]
EndpointArg = Annotated[str, typer.Argument(help="Endpoint id.")]


def _spec(path: Path | None, text: str | None) -> dict[str, Any]:
    raw = path.read_text() if path is not None else (text or "{}")
    try:
        spec = json.loads(raw)
    except ValueError as exc:
        raise typer.BadParameter(f"the spec is not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise typer.BadParameter("the spec is a JSON object")
    return spec


@app.command("config-add")
def add_config(
    ctx: typer.Context,
    project_id: ProjectArg,
    name: Annotated[str, typer.Argument(help="Configuration name.")],
    spec_file: Annotated[
        Path | None, typer.Option("--spec", exists=True, dir_okay=False, help="JSON spec file.")
    ] = None,
    spec_json: Annotated[str | None, typer.Option("--json", help="The spec as JSON text.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Store a copilot configuration version (system_prompt, answer_mode, top_k,
    collection_ids, max_tokens, temperature, guardrail_policy, llm); the same spec again
    answers the existing version. An llm's api_key is stored sealed and never shown."""
    with api(ctx) as client:
        show(client.endpoints.add_config(project_id, name, _spec(spec_file, spec_json)), output)


@app.command("configs")
def list_configs(
    ctx: typer.Context,
    project_id: ProjectArg,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a project's copilot configurations."""
    with api(ctx) as client:
        items = fetch(partial(client.endpoints.configs, project_id), limit)
        show_many(items, output, columns=CONFIG_COLUMNS, noun="configurations")


@app.command("config-versions")
def list_config_versions(
    ctx: typer.Context,
    config_id: Annotated[str, typer.Argument(help="Configuration id.")],
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a configuration's versions, newest first."""
    with api(ctx) as client:
        items = fetch(partial(client.endpoints.config_versions, config_id), limit)
        show_many(items, output, columns=VERSION_COLUMNS, noun="versions")


@app.command("create")
def create_endpoint(
    ctx: typer.Context,
    project_id: ProjectArg,
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    kind: Annotated[str, typer.Option("--kind", help="model or copilot.")],
    subject: Annotated[
        str, typer.Option("--subject", help="The model's or the configuration's name.")
    ],
    stable: Annotated[
        str, typer.Option("--stable", help="A version number (or, for models, an alias).")
    ],
    sticky_header: Annotated[
        str | None, typer.Option("--sticky-header", help="Header whose value pins a caller.")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create an endpoint; its stable version is resolved and pinned now."""
    with api(ctx) as client:
        endpoint = client.endpoints.create(
            project_id,
            name=name,
            kind=kind,
            subject=subject,
            stable=stable,
            sticky_header=sticky_header,
        )
        show(endpoint, output)


@app.command("list")
def list_endpoints(
    ctx: typer.Context,
    project_id: ProjectArg,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a project's endpoints with their split."""
    with api(ctx) as client:
        items = fetch(partial(client.endpoints.list, project_id), limit)
        show_many(items, output, columns=COLUMNS, noun="endpoints")


@app.command("get")
def get_endpoint(
    ctx: typer.Context, endpoint_id: EndpointArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Show one endpoint and its split."""
    with api(ctx) as client:
        show(client.endpoints.get(endpoint_id), output)


@app.command("delete")
def delete_endpoint(ctx: typer.Context, endpoint_id: EndpointArg) -> None:
    """Delete an endpoint (refused while a rollout is active on it)."""
    with api(ctx) as client:
        client.endpoints.delete(endpoint_id)
    note(f"deleted endpoint {endpoint_id}")


@app.command("split")
def set_split(
    ctx: typer.Context,
    endpoint_id: EndpointArg,
    weight: Annotated[int, typer.Option("--weight", min=0, max=100, help="Canary percent.")],
    canary: Annotated[
        int | None, typer.Option("--canary", help="Canary version number (omit to clear).")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Set the split by hand (refused while a rollout is active)."""
    with api(ctx) as client:
        show(client.endpoints.split(endpoint_id, canary=canary, weight=weight), output)


@app.command("metrics")
def show_metrics(
    ctx: typer.Context, endpoint_id: EndpointArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Per-version requests, errors, blocks, tokens and p95 over the last 5 minutes."""
    with api(ctx) as client:
        metrics = client.endpoints.metrics(endpoint_id)
    if output is OutputFormat.json:
        show(metrics, output)
        return
    rows = [metrics.stable] + ([metrics.canary] if metrics.canary else [])
    show_many(
        rows,
        output,
        columns=("version", "requests", "errors", "error_rate", "blocked", "tokens", "p95_ms"),
        noun="versions",
    )


@app.command("predict")
def predict(
    ctx: typer.Context,
    endpoint_id: EndpointArg,
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")],
    key: Annotated[str | None, typer.Option("--key", help="Sticky key (user id).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Classify texts through a model endpoint; says which version answered."""
    with api(ctx) as client:
        answer = client.endpoints.predict(endpoint_id, texts, key=key)
    if output is OutputFormat.json:
        show(answer, output)
        return
    note(f"version {answer.version} ({answer.variant})")
    show_many(answer.predictions, output, columns=("label",), noun="predictions")
