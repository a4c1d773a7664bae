"""Suites (versioned documents), stored targets, and each test run's per-case results. A test
run itself is a Run of kind ``agent_test``; its summary is the run's result."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class AgentSuite(TenantScoped, Entity):
    __tablename__ = "agent_suites"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("project_id", "name"),)


class AgentSuiteVersion(TenantScoped, Entity):
    __tablename__ = "agent_suite_versions"

    suite_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_suites.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))  # of the validated document, not the text
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)  # validated, defaults filled in
    case_count: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    created_by: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("suite_id", "version"),
        UniqueConstraint("suite_id", "digest"),
    )


class AgentTarget(TenantScoped, Entity):
    """An external agent (OpenAI-compatible or any HTTP agent). ``secret_headers`` is a sealed
    token (the platform key), opened only by the job that calls the agent."""

    __tablename__ = "agent_targets"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000))
    model: Mapped[str | None] = mapped_column(String(200))
    template: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    secret_header_names: Mapped[list[str]] = mapped_column(JSONB, default=list)
    secret_headers: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("project_id", "name"),)


class AgentCaseResult(TenantScoped, Entity):
    """One case's outcome in one test run. Unique per (run, case): a retried attempt of the run
    skips the cases already stored, so a result once written is never redone or lost."""

    __tablename__ = "agent_case_results"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # the case's place in the suite
    case_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(8))  # passed | failed | error
    score: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float)
    tags: Mapped[list[str]] = mapped_column(JSONB, default=list)
    output: Mapped[str] = mapped_column(Text, default="")
    assertions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("run_id", "case_id"),)
