"""``raylane docs`` (also ``raylane documents``): upload, list, show and delete the documents
of a collection."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from raylane.cli.context import YesOpt, api, confirm_or_abort, fail
from raylane.cli.output import (
    LimitOpt,
    OutputFormat,
    OutputOpt,
    fetch,
    note,
    progress_bar,
    show,
    show_many,
)
from raylane.client import RaylaneError
from raylane.schemas.collections import DocumentUploaded, metadata_per_file

app = typer.Typer(help="Documents of a collection.", no_args_is_help=True)

COLUMNS = ("id", "name", "status", "size", "chunk_count", "error", "updated_at")
IdArg = Annotated[str, typer.Argument(help="Document id.")]
CollectionArg = Annotated[str, typer.Argument(help="Collection id.")]


@app.command("upload")
def upload_documents(
    ctx: typer.Context,
    collection_id: CollectionArg,
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="Text, Markdown, HTML, PDF, JSONL."
        ),
    ],
    metadata: Annotated[
        str | None,
        typer.Option(
            help='JSON object for every file, or {"<file name>": {...}} per file, e.g. '
            '\'{"team": "hr"}\'.'
        ),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Upload files into a collection, one request per file; then run `raylane ingest`.

    Uploading again is safe: files whose content is already stored are skipped.
    """
    twice = sorted(name for name, n in Counter(p.name for p in files).items() if n > 1)
    if twice:
        raise typer.BadParameter(
            f"documents are named by file name, and these repeat: {', '.join(twice)}",
            param_hint="FILES",
        )
    per_file = _per_file(metadata, [p.name for p in files])
    uploaded: list[DocumentUploaded] = []
    bars = progress_bar() if len(files) > 1 else None
    with api(ctx) as client, bars or nullcontext():
        task = bars.add_task("uploading", total=len(files)) if bars is not None else None
        for path in files:
            if bars is not None and task is not None:
                bars.update(task, description=path.name)
            meta = per_file.get(path.name)
            try:
                uploaded += client.documents.upload(
                    collection_id, [path], metadata=None if meta is None else {path.name: meta}
                )
            except RaylaneError as exc:
                _name_the_file(exc, path.name)
                if uploaded:
                    note(
                        f"{len(uploaded)} of {len(files)} files were uploaded before the "
                        "error; uploading them again is harmless."
                    )
                raise
            except OSError as exc:
                fail("file_error", f"{path}: {exc.strerror or exc}")
                raise typer.Exit(1) from None
            if bars is not None and task is not None:
                bars.advance(task)
        if bars is not None and task is not None:
            bars.update(task, description="uploaded")
    _report(collection_id, uploaded, output)


@app.command("list")
def list_documents(
    ctx: typer.Context,
    collection_id: CollectionArg,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a collection's documents with their ingest status."""
    with api(ctx) as client:
        pages = partial(client.documents.iter, collection_id)
        show_many(fetch(pages, limit), output, columns=COLUMNS, noun="documents")


@app.command("get")
def get_document(
    ctx: typer.Context, document_id: IdArg, output: OutputOpt = OutputFormat.table
) -> None:
    """Show one document."""
    with api(ctx) as client:
        show(client.documents.get(document_id), output)


@app.command("delete")
def delete_document(ctx: typer.Context, document_id: IdArg, yes: YesOpt = False) -> None:
    """Delete a document with its chunks and vectors."""
    confirm_or_abort(f"Delete document {document_id}?", yes=yes)
    with api(ctx) as client:
        client.documents.delete(document_id)
    note(f"Deleted document {document_id}.")


def _per_file(raw: str | None, names: list[str]) -> dict[str, dict[str, Any]]:
    """``--metadata`` read by the server's rule, so one request per file sends each file what
    one request for all of them would have given it."""
    if raw is None:
        return {}
    try:
        return metadata_per_file(json.loads(raw), names)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint="--metadata") from None
    except ValueError:
        raise typer.BadParameter("must be a JSON object", param_hint="--metadata") from None


def _name_the_file(exc: RaylaneError, name: str) -> None:
    # One request per file: say which one an error that does not name it was about.
    if isinstance(exc.detail, str) and name not in exc.detail:
        exc.detail = f"{name}: {exc.detail}"


def _report(collection_id: str, uploaded: list[DocumentUploaded], output: OutputFormat) -> None:
    if output is OutputFormat.json:
        show_many(uploaded, output, columns=(), noun="documents")
        return
    show_many([u.document for u in uploaded], output, columns=COLUMNS, noun="documents")
    new = sum(u.created for u in uploaded)
    note(
        f"{new} stored, {len(uploaded) - new} unchanged. "
        f"Index them with: raylane ingest {collection_id}"
    )
