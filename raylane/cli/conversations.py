"""``raylane conversations``: the copilot's conversations and their messages."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from raylane.cli.context import api
from raylane.cli.copilot import ProjectOpt, default_project
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
from raylane.schemas.copilot import ConversationRead

app = typer.Typer(help="Copilot conversations and their messages.", no_args_is_help=True)

COLUMNS = ("id", "title", "created_at")


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
