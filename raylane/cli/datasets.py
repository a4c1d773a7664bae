"""``raylane datasets``: versioned labeled datasets (JSON Lines or CSV, or collection snapshots)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raylane.cli.context import api
from raylane.cli.output import LimitOpt, OutputFormat, OutputOpt, fetch, note, show, show_many

app = typer.Typer(help="Versioned labeled datasets of a project.", no_args_is_help=True)

COLUMNS = ("id", "name", "source", "latest_version", "created_at")
VERSION_COLUMNS = ("version", "row_count", "label_counts", "splits", "format", "created_at")
IdArg = Annotated[str, typer.Argument(help="Dataset id.")]
ProjectOpt = Annotated[str, typer.Option("--project", help="Project id.")]


@app.command("create")
def create_dataset(
    ctx: typer.Context,
    project: ProjectOpt,
    name: Annotated[str, typer.Option(help="Unique within the project.")],
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    collection: Annotated[
        str | None, typer.Option(help="Collection id whose labeled chunks it can snapshot.")
    ] = None,
    label_field: Annotated[
        str | None, typer.Option(help="The collection's metadata field holding the label.")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a dataset."""
    with api(ctx) as client:
        dataset = client.datasets.create(
            project,
            name=name,
            description=description,
            collection_id=collection,
            label_field=label_field,
        )
        show(dataset, output)


@app.command("list")
def list_datasets(
    ctx: typer.Context,
    project: ProjectOpt,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List the project's datasets."""
    with api(ctx) as client:
        items = fetch(lambda page_size: client.datasets.iter(project, page_size=page_size), limit)
        show_many(items, output, columns=COLUMNS, noun="datasets")


@app.command("get")
def get_dataset(
    ctx: typer.Context, dataset_id: IdArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Show one dataset."""
    with api(ctx) as client:
        show(client.datasets.get(dataset_id), output)


@app.command("upload")
def upload_version(
    ctx: typer.Context,
    dataset_id: IdArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV file.")],
    format: Annotated[str | None, typer.Option(help="jsonl or csv (default: by name).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Upload a file as the next version (the same bytes again return that version)."""
    if format not in (None, "jsonl", "csv"):
        raise typer.BadParameter("--format is jsonl or csv")
    with api(ctx) as client:
        uploaded = client.datasets.upload(dataset_id, file, format=format)  # type: ignore[arg-type]
        if not uploaded.created:
            note(f"same content as version {uploaded.version.version}: nothing new stored")
        show(uploaded.version, output)


@app.command("snapshot")
def snapshot_dataset(
    ctx: typer.Context, dataset_id: IdArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Make a version from the dataset's collection (its labeled, ingested chunks)."""
    with api(ctx) as client:
        made = client.datasets.snapshot(dataset_id)
        if not made.created:
            note(f"unchanged since version {made.version.version}")
        show(made.version, output)


@app.command("versions")
def list_versions(
    ctx: typer.Context, dataset_id: IdArg, output: OutputOpt = OutputFormat.table
) -> None:
    """List a dataset's versions, newest first, with row, label and split counts."""
    with api(ctx) as client:
        versions = client.datasets.versions(dataset_id, limit=200).items
        show_many(versions, output, columns=VERSION_COLUMNS, noun="versions")


@app.command("download")
def download_version(
    ctx: typer.Context,
    dataset_id: IdArg,
    version: Annotated[int, typer.Argument(help="Version number.")],
    to: Annotated[Path, typer.Option("--to", help="File to write (JSON Lines).")],
) -> None:
    """Save a version's rows as JSON Lines."""
    with api(ctx) as client:
        to.write_bytes(client.datasets.download(dataset_id, version))
    note(f"wrote {to}")
