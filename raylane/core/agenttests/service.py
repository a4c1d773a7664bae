"""Agent-test use cases: suite versions, stored targets, test runs, results and comparisons.

A test run is a Run of kind ``agent_test``: the request is checked here and stored as the run's
params (the suite version pinned, a model alias resolved to its version), and the job re-reads
them by run id, so tenant input never reaches a job's command line.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.agenttests import report, suite
from raylane.core.agenttests.models import (
    AgentCaseResult,
    AgentSuite,
    AgentSuiteVersion,
    AgentTarget,
)
from raylane.core.agenttests.repository import (
    CaseResultRepository,
    SuiteRepository,
    SuiteVersionRepository,
    TargetRepository,
)
from raylane.core.agenttests.types import CaseResult, Verdict
from raylane.core.audit import audit_service
from raylane.core.endpoints.configs import copilot_config_service, public_spec
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.core.runs.models import Run, RunKind
from raylane.core.runs.service import run_service
from raylane.core.training import tracking
from raylane.errors import InvalidInput, NotFound
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.infra.secrets import seal
from raylane.schemas.agent_tests import (
    SuiteCreate,
    TargetCreate,
    TestComparison,
    TestRunCreate,
    TestSummary,
)

KIND = RunKind.AGENT_TEST
# model:NAME@ALIAS or model:NAME:VERSION (NAME as the registry allows it)
_MODEL_TARGET = re.compile(r"^model:(?P<name>[^@:]+)(?:@(?P<alias>[^@:]+)|:(?P<version>\d+))?$")
# copilot-config:NAME:VERSION, a version of one of the project's copilot configurations
_CONFIG_TARGET = re.compile(r"^copilot-config:(?P<name>[^@:]+):(?P<version>\d{1,9})$")


@dataclass(frozen=True)
class SuiteVersionAdded:
    version: AgentSuiteVersion
    suite: AgentSuite
    created: bool  # False: the latest version already had this document


class AgentTestService:
    # --- suites -----------------------------------------------------------------------------

    async def add_version(
        self, session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, data: SuiteCreate
    ) -> SuiteVersionAdded:
        """Validate a suite document and store it as the suite's next version (creating the
        suite under its name if new). The same document as an existing version answers that
        version: versions are content-addressed, like dataset versions.

        Raises:
            NotFound: no such project in the organization.
            InvalidInput: the document is not a valid suite (the message names the case and
                the field).
        """
        await project_service.get(session, project_id=project_id)
        document = suite.parse(data.content)
        digest = suite.digest(document)
        repo = SuiteRepository(session)
        found = await repo.by_name(project_id, data.name, lock=True)
        if found is None:
            found = AgentSuite(
                organization_id=actor.organization_id, project_id=project_id, name=data.name
            )
            async with conflict_on_duplicate(session, f"suite {data.name!r}"):
                await repo.add(found)
            await audit_service.log(
                session, actor, "agent_suite.create", target=found, after={"name": data.name}
            )
            found = await repo.by_name(project_id, data.name, lock=True)
            assert found is not None
        versions = SuiteVersionRepository(session)
        existing = await versions.by_digest(found.id, digest)
        if existing is not None:
            return SuiteVersionAdded(existing, found, created=False)
        found.latest_version += 1
        version = AgentSuiteVersion(
            organization_id=actor.organization_id,
            suite_id=found.id,
            version=found.latest_version,
            digest=digest,
            document=document.model_dump(mode="json", by_alias=True),
            case_count=len(document.cases),
            threshold=document.threshold,
            created_by=actor.user_id,
        )
        await versions.add(version)
        await audit_service.log(
            session,
            actor,
            "agent_suite.version",
            target=version,
            after={"suite": found.name, "version": version.version, "digest": digest},
        )
        return SuiteVersionAdded(version, found, created=True)

    async def get_suite(self, session: AsyncSession, *, suite_id: uuid.UUID) -> AgentSuite:
        """Raises: NotFound."""
        found = await SuiteRepository(session).get(suite_id)
        if found is None:
            raise NotFound("suite", suite_id)
        return found

    async def suites(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[AgentSuite]:
        """The project's suites. Raises: NotFound (the project)."""
        await project_service.get(session, project_id=project_id)
        return await SuiteRepository(session).page(
            {"project_id": project_id}, limit=limit, cursor=cursor
        )

    async def versions(
        self, session: AsyncSession, *, suite_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[AgentSuiteVersion]:
        """A suite's versions, newest first. Raises: NotFound."""
        await self.get_suite(session, suite_id=suite_id)
        return await SuiteVersionRepository(session).page(
            {"suite_id": suite_id}, limit=limit, cursor=cursor
        )

    async def get_version(
        self, session: AsyncSession, *, suite_id: uuid.UUID, version: int
    ) -> AgentSuiteVersion:
        """Raises: NotFound."""
        await self.get_suite(session, suite_id=suite_id)
        found = await SuiteVersionRepository(session).by_number(suite_id, version)
        if found is None:
            raise NotFound("suite version", version)
        return found

    async def delete_suite(
        self, session: AsyncSession, *, actor: Actor, suite_id: uuid.UUID
    ) -> None:
        """Delete a suite and its versions (test runs and their results stay).

        Raises:
            NotFound: no such suite.
        """
        found = await self.get_suite(session, suite_id=suite_id)
        await audit_service.log(
            session, actor, "agent_suite.delete", target=found, before={"name": found.name}
        )
        await SuiteRepository(session).delete(found)

    # --- targets ----------------------------------------------------------------------------

    async def create_target(
        self, session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, data: TargetCreate
    ) -> AgentTarget:
        """Store an external agent to test; its secret headers sealed with the platform key.

        Raises:
            NotFound: no such project. Conflict: the name is taken in the project.
        """
        await project_service.get(session, project_id=project_id)
        secret = {k.lower() for k in data.secret_headers}
        headers = {k: v for k, v in data.headers.items() if k.lower() not in secret}
        template = data.template
        if data.kind == "http" and template is None:
            from raylane.schemas.agent_tests import HttpTemplate

            template = HttpTemplate()
        target = AgentTarget(
            organization_id=actor.organization_id,
            project_id=project_id,
            name=data.name,
            kind=data.kind,
            url=data.url,
            model=data.model,
            template=template.model_dump(mode="json") if template is not None else None,
            headers=headers,
            secret_header_names=sorted(data.secret_headers),
            secret_headers=seal(json.dumps(data.secret_headers)) if data.secret_headers else None,
        )
        async with conflict_on_duplicate(session, f"target {data.name!r}"):
            await TargetRepository(session).add(target)
        await audit_service.log(
            session,
            actor,
            "agent_target.create",
            target=target,
            after={
                "name": data.name,
                "kind": data.kind,
                "url": data.url,
                "secret_headers": sorted(data.secret_headers),  # names only
            },
        )
        return target

    async def get_target(self, session: AsyncSession, *, target_id: uuid.UUID) -> AgentTarget:
        """Raises: NotFound."""
        found = await TargetRepository(session).get(target_id)
        if found is None:
            raise NotFound("target", target_id)
        return found

    async def targets(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[AgentTarget]:
        """Raises: NotFound (the project)."""
        await project_service.get(session, project_id=project_id)
        return await TargetRepository(session).page(
            {"project_id": project_id}, limit=limit, cursor=cursor
        )

    async def delete_target(
        self, session: AsyncSession, *, actor: Actor, target_id: uuid.UUID
    ) -> None:
        """Raises: NotFound."""
        found = await self.get_target(session, target_id=target_id)
        await audit_service.log(
            session, actor, "agent_target.delete", target=found, before={"name": found.name}
        )
        await TargetRepository(session).delete(found)

    # --- test runs --------------------------------------------------------------------------

    async def start(
        self, session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, data: TestRunCreate
    ) -> Run:
        """Queue a test run of a suite version against a target.

        Raises:
            NotFound: the project, suite, version, model or stored target is not the caller's.
            InvalidInput: the target string names no kind of target.
        """
        params = await self.prepare(session, project_id=project_id, data=data)
        return await run_service.create(
            session,
            actor=actor,
            kind=KIND,
            target_id=uuid.uuid4(),  # each test run is its own target: many may run at once
            project_id=project_id,
            max_attempts=data.max_attempts,
            params=params,
        )

    async def prepare(
        self, session: AsyncSession, *, project_id: uuid.UUID, data: TestRunCreate
    ) -> dict[str, Any]:
        """The run's params: the suite version pinned, the target resolved.

        Raises:
            NotFound, InvalidInput: as :meth:`start`.
        """
        await project_service.get(session, project_id=project_id)
        found = await SuiteRepository(session).by_name(project_id, data.suite)
        if found is None:
            raise NotFound("suite", data.suite)
        number = data.version or found.latest_version
        version = await SuiteVersionRepository(session).by_number(found.id, number)
        if version is None:
            raise NotFound("suite version", number)
        return {
            "suite": found.name,
            "suite_id": str(found.id),
            "suite_version": version.version,
            "suite_version_id": str(version.id),
            "cases": version.case_count,
            "threshold": version.threshold,
            "target": data.target,
            "target_spec": await self._resolve_target(session, project_id, data.target),
            "concurrency": data.concurrency,
            "tags": list(data.tags),
        }

    async def _resolve_target(
        self, session: AsyncSession, project_id: uuid.UUID, target: str
    ) -> dict[str, Any]:
        if target == "copilot":
            return {"kind": "copilot", "project_id": str(project_id)}
        if target.startswith("target:"):
            stored = await TargetRepository(session).by_name(project_id, target[len("target:") :])
            if stored is None:
                raise NotFound("target", target)
            return {"kind": stored.kind, "target_id": str(stored.id)}
        match = _CONFIG_TARGET.match(target)
        if match:
            config = await copilot_config_service.by_name(
                session, project_id=project_id, name=match["name"]
            )
            version = await copilot_config_service.version(
                session, config=config, number=int(match["version"])
            )
            # The run's params show the pinned spec (versions never change); the job reads the
            # version itself, whose spec holds what a read never shows (a sealed LLM key).
            return {
                "kind": "copilot",
                "project_id": str(project_id),
                "config": config.name,
                "config_version": version.version,
                "config_version_id": str(version.id),
                "config_spec": public_spec(dict(version.spec)),
            }
        match = _MODEL_TARGET.match(target)
        if match:
            ref = await tracking.resolve_model(
                session,
                name=match["name"],
                version=match["version"],
                alias=match["alias"],
            )
            return {
                "kind": "model",
                "name": ref.name,
                "version": ref.version,
                "version_id": ref.version_id,
                "artifact_key": ref.artifact_key,
            }
        raise InvalidInput(
            f"target {target!r}: use 'copilot', 'copilot-config:NAME:VERSION', "
            "'model:NAME@ALIAS', 'model:NAME:VERSION' or 'target:NAME'"
        )

    async def get_run(self, session: AsyncSession, *, run_id: uuid.UUID) -> Run:
        """Raises: NotFound (no such test run in the organization)."""
        run = await run_service.get(session, run_id=run_id)
        if run.kind != KIND:
            raise NotFound("test run", run_id)
        return run

    async def runs(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Run]:
        """The project's test runs, newest first. Raises: NotFound (the project)."""
        await project_service.get(session, project_id=project_id)
        return await run_service.page(
            session, limit=limit, cursor=cursor, kind=KIND, project_id=project_id
        )

    async def results(
        self,
        session: AsyncSession,
        *,
        run_id: uuid.UUID,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[AgentCaseResult]:
        """A test run's case results (optionally of one status). Raises: NotFound."""
        await self.get_run(session, run_id=run_id)
        return await CaseResultRepository(session).page(
            {"run_id": run_id, "status": status}, limit=limit, cursor=cursor
        )

    async def case_results(self, session: AsyncSession, *, run_id: uuid.UUID) -> list[CaseResult]:
        """Every result of a test run, in suite order. Raises: NotFound."""
        await self.get_run(session, run_id=run_id)
        return [to_case_result(r) for r in await CaseResultRepository(session).for_run(run_id)]

    async def summary(self, session: AsyncSession, *, run_id: uuid.UUID) -> TestSummary:
        """The run's summary over the results stored so far. Raises: NotFound."""
        run = await self.get_run(session, run_id=run_id)
        results = await self.case_results(session, run_id=run_id)
        return report.summarize(results, float(run.params.get("threshold", 1.0)))

    async def junit(self, session: AsyncSession, *, run_id: uuid.UUID) -> str:
        """The run's results as JUnit XML. Raises: NotFound."""
        run = await self.get_run(session, run_id=run_id)
        results = await self.case_results(session, run_id=run_id)
        summary = report.summarize(results, float(run.params.get("threshold", 1.0)))
        return report.junit(str(run.params.get("suite", "suite")), results, summary)

    async def compare(
        self, session: AsyncSession, *, base_run_id: uuid.UUID, head_run_id: uuid.UUID
    ) -> TestComparison:
        """Regressions, fixes and deltas from ``base`` to ``head``. Raises: NotFound."""
        base = await self.case_results(session, run_id=base_run_id)
        head = await self.case_results(session, run_id=head_run_id)
        return report.compare(base, head, base_run_id, head_run_id)


def to_case_result(row: AgentCaseResult) -> CaseResult:
    return CaseResult(
        case_id=row.case_id,
        status=row.status,  # type: ignore[arg-type]
        score=row.score,
        weight=row.weight,
        tags=list(row.tags),
        output=row.output,
        verdicts=[Verdict(**v) for v in row.assertions],
        latency_ms=row.latency_ms,
        output_tokens=row.output_tokens,
        attempts=row.attempts,
        error=row.error,
    )


agent_test_service = AgentTestService()
