"""How commands print models: rich tables for people, JSON on stdout for scripts.

JSON output is exactly the wire model (``model_dump(mode="json")``): one object for a single
item, an array for a list, so ``raylane projects list -o json | jq`` sees what the API sent.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from itertools import islice
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from raylane.client._resources import DEFAULT_PAGE_SIZE

T = TypeVar("T")


class OutputFormat(StrEnum):
    """``--output`` choices."""

    table = "table"
    json = "json"


OutputOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table for people, json for scripts (printed to stdout).",
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="Stop after this many items (default: all)."),
]


def page_size(limit: int | None) -> int:
    """The page size to fetch ``limit`` items in as few requests as sensible."""
    return min(limit, DEFAULT_PAGE_SIZE) if limit else DEFAULT_PAGE_SIZE


def fetch(pages: Callable[..., Iterator[T]], limit: int | None) -> Iterator[T]:
    """At most ``limit`` items (all when None) of an SDK ``iter`` method, which is called
    with ``page_size``; stops fetching pages once it has enough."""
    items = pages(page_size=page_size(limit))
    return items if limit is None else islice(items, limit)


def show(model: BaseModel, fmt: OutputFormat, *, fields: Sequence[str] | None = None) -> None:
    """Print one model: a field/value table, or its JSON."""
    if fmt is OutputFormat.json:
        _echo_json(model.model_dump(mode="json"))
        return
    data = model.model_dump()
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name in fields or list(data):
        table.add_row(name, Text(cell(data.get(name))))
    console().print(table)


def show_many(
    models: Iterable[BaseModel], fmt: OutputFormat, *, columns: Sequence[str], noun: str
) -> None:
    """Print models as rows of ``columns``, or as one JSON array."""
    if fmt is OutputFormat.json:
        _echo_json([m.model_dump(mode="json") for m in models])
        return
    table = Table(*columns, header_style="bold")
    for col in table.columns:
        # Ids are copied by hand: keep them whole on one line, let free text wrap instead.
        if str(col.header).endswith("id"):
            col.no_wrap = True
            col.min_width = 36
        else:
            col.overflow = "fold"
    rows = 0
    for model in models:
        data = model.model_dump()
        table.add_row(*(Text(cell(data.get(c))) for c in columns))
        rows += 1
    if rows == 0:
        typer.echo(f"No {noun}.", err=True)
        return
    console().print(table)


def cell(value: Any) -> str:
    """A value as table text: times to the second, lists comma-joined, None as ``-``.

    Rows are added as ``rich.text.Text``, never as markup: server data such as ``[/]`` in a
    name must print as itself.
    """
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def note(message: str) -> None:
    """A human remark on stderr, so stdout stays clean for pipes."""
    typer.echo(message, err=True)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def console() -> Console:
    """A console on the current stdout (built per call: CliRunner swaps sys.stdout)."""
    return Console(file=sys.stdout, soft_wrap=False)


def err_console() -> Console:
    """A console on the current stderr, for progress and remarks that must not mix with data."""
    return Console(file=sys.stderr, soft_wrap=False)


def progress_bar() -> Progress:
    """Progress bars on stderr: ``label ━━━━ done/total elapsed``.

    On a terminal they redraw in place; elsewhere (a pipe, a CI log) rich prints them once,
    in their final state, when the ``with`` block ends.
    """
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
    )
