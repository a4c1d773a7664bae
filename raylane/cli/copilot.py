"""``raylane chat``: ask the copilot from a shell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from raylane.cli.context import api
from raylane.cli.output import (
    OutputFormat,
    OutputOpt,
    console,
    note,
    show,
)
from raylane.cli.runs import printable
from raylane.client import Client, RaylaneError
from raylane.client.copilot import ChatEvent
from raylane.schemas.copilot import ChatAnswer, Citation

DEFAULT_PROJECT = "demo"
ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        help=f'Project id (default: the project named "{DEFAULT_PROJECT}", if there is one).',
    ),
]


def register(app_: typer.Typer) -> None:
    """Add ``chat`` to the top-level app."""
    app_.command("chat")(chat)


def chat(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="What to ask.")],
    project: ProjectOpt = None,
    conversation: Annotated[
        str | None,
        typer.Option("--conversation", help="Continue this conversation (its id)."),
    ] = None,
    stream: Annotated[
        bool,
        typer.Option("--stream/--no-stream", help="Print the answer while it is generated."),
    ] = True,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Longest answer, in tokens.")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=20, help="Passages to retrieve.")] = 4,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Ask the copilot; print the answer, then the passages it cites.

    Exits 1 when a guardrail blocks it, 2 without --project when there is no "demo" project.
    """
    with api(ctx) as client:
        project_id = project or default_project(client)
        ask: dict[str, Any] = {
            "conversation_id": conversation,
            "max_tokens": max_tokens,
            "top_k": top_k,
        }
        if output is OutputFormat.json:
            show(client.copilot.chat(project_id, question, **ask), output)
            return
        if stream:
            answer = stream_answer(client.copilot.stream(project_id, question, **ask))
        else:
            answer = client.copilot.chat(project_id, question, **ask)
            echo_answer(answer.answer)
    show_citations(answer.citations)
    if answer.conversation_id is not None:
        note(f"Continue with: raylane chat --conversation {answer.conversation_id} ...")


def default_project(client: Client) -> str:
    """The id of the organization's project named "demo".

    Raises:
        typer.BadParameter: there is none (exit 2).
    """
    for found in client.projects.iter():
        if found.name == DEFAULT_PROJECT:
            return str(found.id)
    raise typer.BadParameter(
        f'no project given, and the organization has no project named "{DEFAULT_PROJECT}"; '
        "pass --project ID (see: raylane projects list)",
        param_hint="--project",
    )


def stream_answer(events: Iterable[ChatEvent]) -> ChatAnswer:
    """Print ``token`` events as they arrive; return the answer they make up.

    A blocked or failed answer ends the line already printed before its error is reported.
    Ctrl-C stops reading (exit 130).
    """
    parts: list[str] = []
    fields: dict[str, Any] = {"conversation_id": None, "message_id": None, "citations": []}
    try:
        for event in events:
            if event.type == "token":
                text = printable(event.text)
                parts.append(text)
                typer.echo(text, nl=False)
            elif event.type == "conversation":
                fields["conversation_id"] = event.conversation_id
            elif event.type == "citations":
                fields["citations"] = event.citations
            elif event.type == "done":
                fields |= {
                    "message_id": event.message_id,
                    "usage": event.usage,
                    "finish_reason": event.finish_reason,
                }
    except RaylaneError:
        _end_line(parts)
        raise
    except KeyboardInterrupt:
        _end_line(parts)
        note("Stopped.")
        raise typer.Exit(130) from None
    _end_line(parts)
    return ChatAnswer.model_validate({**fields, "answer": "".join(parts)})


def _end_line(parts: list[str]) -> None:
    text = "".join(parts)
    if text and not text.endswith("\n"):
        typer.echo("")


def echo_answer(answer: str) -> None:
    """A whole answer on stdout, ending with one newline."""
    typer.echo(printable(answer).rstrip("\n"))


def show_citations(citations: list[Citation]) -> None:
    """The cited passages as ``[n] document  chunk  score`` rows after the answer."""
    if not citations:
        note("No passages found in the project's collections.")
        return
    table = Table("", "document", "chunk", "score", header_style="bold", box=None)
    table.columns[1].overflow = "fold"
    for c in citations:
        table.add_row(
            Text(f"[{c.index}]"), Text(c.document_name), str(c.chunk_index), f"{c.score:.3f}"
        )
    typer.echo("")
    console().print(table)
