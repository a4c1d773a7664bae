"""All SQL for agent tests: suites, versions, targets and case results."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from raylane.core.agenttests.models import (
    AgentCaseResult,
    AgentSuite,
    AgentSuiteVersion,
    AgentTarget,
)
from raylane.infra.db.repository import Repository


class SuiteRepository(Repository[AgentSuite]):
    model = AgentSuite

    async def by_name(
        self, project_id: uuid.UUID, name: str, *, lock: bool = False
    ) -> AgentSuite | None:
        """The project's suite called ``name``; ``lock``: row-locked until the transaction ends,
        so versions of one suite are numbered one at a time."""
        stmt = select(AgentSuite).where(
            AgentSuite.project_id == project_id, AgentSuite.name == name
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self._session.scalars(stmt)).first()


class SuiteVersionRepository(Repository[AgentSuiteVersion]):
    model = AgentSuiteVersion
    newest_first = True

    async def by_digest(self, suite_id: uuid.UUID, digest: str) -> AgentSuiteVersion | None:
        stmt = select(AgentSuiteVersion).where(
            AgentSuiteVersion.suite_id == suite_id, AgentSuiteVersion.digest == digest
        )
        return (await self._session.scalars(stmt)).first()

    async def by_number(self, suite_id: uuid.UUID, version: int) -> AgentSuiteVersion | None:
        stmt = select(AgentSuiteVersion).where(
            AgentSuiteVersion.suite_id == suite_id, AgentSuiteVersion.version == version
        )
        return (await self._session.scalars(stmt)).first()


class TargetRepository(Repository[AgentTarget]):
    model = AgentTarget

    async def by_name(self, project_id: uuid.UUID, name: str) -> AgentTarget | None:
        stmt = select(AgentTarget).where(
            AgentTarget.project_id == project_id, AgentTarget.name == name
        )
        return (await self._session.scalars(stmt)).first()


class CaseResultRepository(Repository[AgentCaseResult]):
    model = AgentCaseResult

    async def for_run(self, run_id: uuid.UUID) -> list[AgentCaseResult]:
        """Every stored result of a run, in suite order."""
        stmt = (
            select(AgentCaseResult)
            .where(AgentCaseResult.run_id == run_id)
            .order_by(AgentCaseResult.position)
        )
        return list(await self._session.scalars(stmt))

    async def done_case_ids(self, run_id: uuid.UUID) -> set[str]:
        stmt = select(AgentCaseResult.case_id).where(AgentCaseResult.run_id == run_id)
        return set(await self._session.scalars(stmt))

    async def save(self, rows: list[dict[str, Any]]) -> None:
        """Insert results; a case already stored for the run keeps its first result (a job
        attempt that overlapped a previous one must not overwrite what was reported)."""
        if rows:
            # executemany form: one cached statement, sent in batches (not a new multi-VALUES
            # statement compiled for each count of rows)
            stmt = insert(AgentCaseResult).on_conflict_do_nothing(
                index_elements=["run_id", "case_id"]
            )
            await self._session.execute(stmt, rows)
