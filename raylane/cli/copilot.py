"""``raylane chat``, ``raylane conversations`` and ``raylane usage``: the copilot from a shell."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from raylane.cli.context import api
from raylane.cli.output import (
    LimitOpt,
    OutputFormat,
    OutputOpt,
    cell,
    console,
    fetch,
    note,
    show,
    show_many,
)
from raylane.cli.runs import printable
from raylane.client import Client, RaylaneError
from raylane.client.copilot import ChatEvent
from raylane.schemas.copilot import ChatAnswer, Citation, ConversationRead, UsageRead

app = typer.Typer(help="Copilot conversations and their messages.", no_args_is_help=True)

DEFAULT_PROJECT = "demo"
COLUMNS = ("id", "title", "created_at")
ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        help=f'Project id (default: the project named "{DEFAULT_PROJECT}", if there is one).',
    ),
]


def register(app_: typer.Typer) -> None:
    """Add ``chat`` and ``usage`` to the top-level app."""
    app_.command("chat")(chat)
    app_.command("usage")(usage)


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


@app.command("list")
def list_conversations(
    ctx: typer.Context,
    project: ProjectOpt = None,
    limit: LimitOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a project's conversations."""
    with api(ctx) as client:
        project_id = project or default_project(client)
        pages = partial(client.copilot.iter_conversations, project_id)
        show_many(fetch(pages, limit), output, columns=COLUMNS, noun="conversations")


@app.command("get")
def get_conversation(
    ctx: typer.Context,
    conversation_id: Annotated[str, typer.Argument(help="Conversation id.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show a conversation with its messages and the passages each answer cited."""
    with api(ctx) as client:
        found = client.copilot.conversation(conversation_id)
    if output is OutputFormat.json:
        show(found, output)
        return
    show(found, output, fields=("id", "project_id", "title", "created_at"))
    show_messages(found)


def show_messages(conversation: ConversationRead) -> None:
    """Messages as rows: role, text, and the citations of answers (``[1] doc.md#3``)."""
    if not conversation.messages:
        note("No messages.")
        return
    table = Table("role", "content", "citations", "created_at", header_style="bold")
    table.columns[1].overflow = "fold"
    for m in conversation.messages:
        cited = ", ".join(f"[{c.index}] {c.document_name}#{c.chunk_index}" for c in m.citations)
        table.add_row(m.role, Text(printable(m.content)), Text(cited or "-"), cell(m.created_at))
    console().print(table)


def usage(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", min=1, max=90, help="Days to show.")] = 7,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show the organization's copilot requests and tokens per day, and today's quota."""
    with api(ctx) as client:
        report = client.usage(days=days)
    if output is OutputFormat.json:
        show(report, output)
        return
    show_usage(report)


def show_usage(report: UsageRead) -> None:
    """Today against the quota, then one row per day."""
    quota = report.daily_token_quota
    if quota:
        share = 100 * report.tokens_used_today / quota
        typer.echo(f"Today: {report.tokens_used_today:,} of {quota:,} tokens ({share:.1f}%)")
    else:
        typer.echo(f"Today: {report.tokens_used_today:,} tokens (no daily quota)")
    table = Table("day", "requests", "input tokens", "output tokens", header_style="bold")
    for day in report.days:
        table.add_row(
            day.day.isoformat(),
            f"{day.requests:,}",
            f"{day.input_tokens:,}",
            f"{day.output_tokens:,}",
        )
    console().print(table)
