"""``raylane collections``, plus the top-level ``ingest`` and ``search`` commands."""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from raylane.cli import runs
from raylane.cli.context import YesOpt, api, confirm_or_abort
from raylane.cli.output import (
    LimitOpt,
    OutputFormat,
    OutputOpt,
    console,
    fetch,
    note,
    show,
    show_many,
)
from raylane.client import Client
from raylane.schemas.collections import SearchResults

app = typer.Typer(help="Collections of documents, searched by meaning.", no_args_is_help=True)

COLUMNS = ("id", "name", "embedding_model", "dimensions", "chunk_max_tokens", "created_at")
IdArg = Annotated[str, typer.Argument(help="Collection id.")]
ProjectOpt = Annotated[str, typer.Option("--project", help="Project id.")]
SNIPPET = 160  # characters of a hit's text shown in the table
FilterValue = str | int | float | bool


class SearchMode(StrEnum):
    """``--mode`` choices."""

    vector = "vector"
    hybrid = "hybrid"


def register(app_: typer.Typer) -> None:
    """Add ``ingest`` and ``search`` to the top-level app."""
    app_.command("ingest")(ingest)
    app_.command("search")(search)


@app.command("create")
def create_collection(
    ctx: typer.Context,
    project: ProjectOpt,
    name: Annotated[str, typer.Option(help="Unique within the project.")],
    embedding_model: Annotated[
        str | None, typer.Option(help="Embedding model (default: the server's).")
    ] = None,
    chunk_max_tokens: Annotated[
        int | None, typer.Option(min=64, max=512, help="Chunk size in tokens.")
    ] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option(min=0, max=63, help="Tokens shared by neighbouring chunks.")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="Metadata field as NAME=TYPE (string, number, integer, boolean); repeat.",
        ),
    ] = None,
    max_documents: Annotated[int | None, typer.Option(min=1, help="Document limit.")] = None,
    max_document_bytes: Annotated[
        int | None, typer.Option(min=1, help="Size limit of one document.")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a collection; its model, chunking and metadata fields cannot change later."""
    schema = dict(_pair(raw, "--field") for raw in field or ())
    with api(ctx) as client:
        collection = client.collections.create(
            project,
            name=name,
            embedding_model=embedding_model,
            chunk_max_tokens=chunk_max_tokens,
            chunk_overlap=chunk_overlap,
            metadata_schema=schema or None,
            max_documents=max_documents,
            max_document_bytes=max_document_bytes,
        )
        show(collection, output)


@app.command("list")
def list_collections(
    ctx: typer.Context,
    project: ProjectOpt,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a project's collections."""
    with api(ctx) as client:
        pages = partial(client.collections.iter, project)
        show_many(fetch(pages, limit), output, columns=COLUMNS, noun="collections")


@app.command("get")
def get_collection(
    ctx: typer.Context, collection_id: IdArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Show one collection."""
    with api(ctx) as client:
        show(client.collections.get(collection_id), output)


@app.command("delete")
def delete_collection(ctx: typer.Context, collection_id: IdArg, yes: YesOpt = False) -> None:
    """Delete a collection with all its documents and vectors."""
    confirm_or_abort(f"Delete collection {collection_id} and all its documents?", yes=yes)
    with api(ctx) as client:
        client.collections.delete(collection_id)
    note(f"Deleted collection {collection_id}.")


def ingest(
    ctx: typer.Context,
    collection_id: IdArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run with progress bars until it ends.")
    ] = False,
    interval: runs.IntervalOpt = 1.0,
    timeout: runs.TimeoutOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Index a collection's new and changed documents (an ingest run).

    With --wait, exits 1 when the run fails or is cancelled.
    """
    with api(ctx) as client:
        run = client.collections.ingest(collection_id)
        if not wait:
            show(run, output)
            note(f"Follow it with: raylane runs watch {run.id}")
            return
        note(f"Started ingest run {run.id}.")
        runs.follow(client, str(run.id), interval=interval, timeout=timeout, output=output)


def search(
    ctx: typer.Context,
    collection_id: IdArg,
    query: Annotated[str, typer.Argument(help="What to look for, in words.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100, help="Hits to show.")] = 5,
    mode: Annotated[
        SearchMode, typer.Option(case_sensitive=False, help="vector, or hybrid with full text.")
    ] = SearchMode.vector,
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter", help="Only chunks whose metadata field KEY equals VALUE: KEY=VALUE; repeat."
        ),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Search a collection: the best chunks with their score and document."""
    pairs = [_pair(raw, "--filter") for raw in filter_ or ()]
    with api(ctx) as client:
        filters = typed_filters(client, collection_id, pairs) if pairs else None
        results = client.collections.search(
            collection_id, query, top_k=top_k, filters=filters, mode=mode.value
        )
    if output is OutputFormat.json:
        show(results, output)
    else:
        show_hits(results)


def typed_filters(
    client: Client, collection_id: str, pairs: list[tuple[str, str]]
) -> dict[str, FilterValue]:
    """``--filter`` values converted to the types of the collection's metadata schema (a
    filter matches exactly: the integer 2024 is not the string "2024").

    Raises:
        typer.BadParameter: a field the schema does not have, or a value of the wrong type.
    """
    schema = client.collections.get(collection_id).metadata_schema
    filters: dict[str, FilterValue] = {}
    for key, raw in pairs:
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            raise typer.BadParameter(
                f"{key!r} is not a metadata field of this collection (fields: {known})",
                param_hint="--filter",
            )
        filters[key] = _typed(key, raw, schema[key])
    return filters


_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def _typed(key: str, raw: str, kind: str) -> FilterValue:
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        raise typer.BadParameter(f"{key}={raw}: {key} is a {kind}", param_hint="--filter") from None
    if kind == "boolean":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise typer.BadParameter(f"{key}={raw}: {key} is true or false", param_hint="--filter")
    return raw


def _pair(raw: str, option: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{raw!r}: expected KEY=VALUE", param_hint=option)
    return key.strip(), value.strip()


def show_hits(results: SearchResults) -> None:
    """The hits as a table: score, document, chunk index and the start of the text."""
    if not results.hits:
        note("No hits.")
        return
    table = Table("score", "document", "chunk", "text", header_style="bold")
    table.columns[3].overflow = "fold"
    for hit in results.hits:
        table.add_row(
            f"{hit.score:.4f}",
            Text(hit.document_name),
            str(hit.chunk_index),
            Text(snippet(hit.text)),
        )
    console().print(table)


def snippet(text: str, width: int = SNIPPET) -> str:
    """The start of ``text`` on one line, whitespace collapsed, ``…`` when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
