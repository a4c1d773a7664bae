"""Agent tests: suite versions, stored targets, test runs, their results, JUnit, comparisons."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response

from raylane.core.agenttests.models import AgentCaseResult, AgentSuiteVersion, AgentTarget
from raylane.core.agenttests.service import agent_test_service
from raylane.core.rbac import Permission
from raylane.core.runs.models import Run
from raylane.schemas.agent_tests import (
    CaseResultRead,
    SuiteCreate,
    SuiteRead,
    SuiteVersionDetail,
    SuiteVersionRead,
    TargetCreate,
    TargetRead,
    TestComparison,
    TestRunCreate,
    TestRunRead,
)
from raylane.schemas.common import Page
from raylane.serve.deps import ActorDep, PageDep, SessionDep, page_of, require
from raylane.serve.idempotency import IdempotencyDep
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["agent tests"], route_class=Route)
READ = [require(Permission.AGENT_TEST_READ)]
WRITE = [require(Permission.AGENT_TEST_WRITE)]


def _version(v: AgentSuiteVersion) -> SuiteVersionRead:
    return SuiteVersionRead(
        id=v.id,
        suite_id=v.suite_id,
        version=v.version,
        digest=v.digest,
        cases=v.case_count,
        threshold=v.threshold,
        created_at=v.created_at,
    )


def _target(t: AgentTarget) -> TargetRead:
    return TargetRead(
        id=t.id,
        project_id=t.project_id,
        name=t.name,
        kind=t.kind,
        url=t.url,
        model=t.model,
        template=t.template,
        headers=dict(t.headers),
        secret_header_names=list(t.secret_header_names),
        created_at=t.created_at,
    )


def _run(run: Run) -> TestRunRead:
    return TestRunRead.of(run)


def _result(r: AgentCaseResult) -> CaseResultRead:
    return CaseResultRead.model_validate(r, from_attributes=True)


@router.post("/projects/{project_id}/agent-suites", status_code=201, dependencies=WRITE)
async def add_suite_version(
    project_id: uuid.UUID,
    data: SuiteCreate,
    session: SessionDep,
    actor: ActorDep,
    response: Response,
) -> SuiteVersionRead:
    """Store a suite document (YAML or JSON text) as the named suite's next version.

    A document that is not a valid suite is a 422 naming the case and the field. The same
    document as an existing version answers that version with 200 (nothing new is stored)."""
    added = await agent_test_service.add_version(
        session, actor=actor, project_id=project_id, data=data
    )
    if not added.created:
        response.status_code = 200
    return _version(added.version)


@router.get("/projects/{project_id}/agent-suites", dependencies=READ)
async def list_suites(project_id: uuid.UUID, session: SessionDep, page: PageDep) -> Page[SuiteRead]:
    """The project's suites, oldest first."""
    result = await agent_test_service.suites(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, SuiteRead)  # type: ignore[no-any-return]


@router.get("/agent-suites/{suite_id}", dependencies=READ)
async def get_suite(suite_id: uuid.UUID, session: SessionDep) -> SuiteRead:
    return SuiteRead.model_validate(await agent_test_service.get_suite(session, suite_id=suite_id))


@router.delete("/agent-suites/{suite_id}", status_code=204, dependencies=WRITE)
async def delete_suite(suite_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> None:
    """Delete a suite and its versions; test runs of it and their results stay."""
    await agent_test_service.delete_suite(session, actor=actor, suite_id=suite_id)


@router.get("/agent-suites/{suite_id}/versions", dependencies=READ)
async def list_suite_versions(
    suite_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[SuiteVersionRead]:
    """The suite's versions, newest first."""
    result = await agent_test_service.versions(
        session, suite_id=suite_id, limit=page.limit, cursor=page.cursor
    )
    return Page[SuiteVersionRead](
        items=[_version(v) for v in result.items], next_cursor=result.next_cursor
    )


@router.get("/agent-suites/{suite_id}/versions/{version}", dependencies=READ)
async def get_suite_version(
    suite_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
) -> SuiteVersionDetail:
    """One version with its validated document (defaults filled in)."""
    found = await agent_test_service.get_version(session, suite_id=suite_id, version=version)
    return SuiteVersionDetail(**_version(found).model_dump(), document=found.document)


@router.post("/projects/{project_id}/agent-targets", status_code=201, dependencies=WRITE)
async def create_target(
    project_id: uuid.UUID, data: TargetCreate, session: SessionDep, actor: ActorDep
) -> TargetRead:
    """Store an external agent (OpenAI-compatible or any HTTP agent) to run suites against.
    Secret headers are stored encrypted and never returned: reads show their names only."""
    return _target(
        await agent_test_service.create_target(
            session, actor=actor, project_id=project_id, data=data
        )
    )


@router.get("/projects/{project_id}/agent-targets", dependencies=READ)
async def list_targets(
    project_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[TargetRead]:
    result = await agent_test_service.targets(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return Page[TargetRead](
        items=[_target(t) for t in result.items], next_cursor=result.next_cursor
    )


@router.get("/agent-targets/{target_id}", dependencies=READ)
async def get_target(target_id: uuid.UUID, session: SessionDep) -> TargetRead:
    return _target(await agent_test_service.get_target(session, target_id=target_id))


@router.delete("/agent-targets/{target_id}", status_code=204, dependencies=WRITE)
async def delete_target(target_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> None:
    await agent_test_service.delete_target(session, actor=actor, target_id=target_id)


@router.post("/projects/{project_id}/agent-test-runs", status_code=202, dependencies=WRITE)
async def start_test_run(
    project_id: uuid.UUID,
    data: TestRunCreate,
    session: SessionDep,
    actor: ActorDep,
    idem: IdempotencyDep,
) -> TestRunRead:
    """Queue a run of a suite version against a target; poll it at GET /agent-test-runs/{id}
    (live progress: cases done, passed, failed, errors)."""

    async def start() -> TestRunRead:
        run = await agent_test_service.start(session, actor=actor, project_id=project_id, data=data)
        return _run(run)

    return await idem.once(session, actor, TestRunRead, start)


@router.get("/projects/{project_id}/agent-test-runs", dependencies=READ)
async def list_test_runs(
    project_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[TestRunRead]:
    """The project's test runs, newest first."""
    result = await agent_test_service.runs(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return Page[TestRunRead](items=[_run(r) for r in result.items], next_cursor=result.next_cursor)


@router.get("/agent-test-runs/{test_run_id}", dependencies=READ)
async def get_test_run(test_run_id: uuid.UUID, session: SessionDep) -> TestRunRead:
    """Status, live progress and, once done, the summary (pass rate, weighted score, per-tag
    breakdown, latency percentiles)."""
    return _run(await agent_test_service.get_run(session, run_id=test_run_id))


@router.get("/agent-test-runs/{test_run_id}/results", dependencies=READ)
async def list_case_results(
    test_run_id: uuid.UUID,
    session: SessionDep,
    page: PageDep,
    status: Literal["passed", "failed", "error"] | None = None,
) -> Page[CaseResultRead]:
    """Each case's output, assertion verdicts (with scores, the judge's reasoning), latency,
    tokens and error; stored as cases finish, so a running run shows what is done."""
    result = await agent_test_service.results(
        session, run_id=test_run_id, status=status, limit=page.limit, cursor=page.cursor
    )
    return Page[CaseResultRead](
        items=[_result(r) for r in result.items], next_cursor=result.next_cursor
    )


@router.get(
    "/agent-test-runs/{test_run_id}/junit",
    dependencies=READ,
    response_class=Response,
    responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}}},
)
async def junit_report(test_run_id: uuid.UUID, session: SessionDep) -> Response:
    """The run's results as a JUnit XML report (one test case per suite case), for CI."""
    body = await agent_test_service.junit(session, run_id=test_run_id)
    return Response(body, media_type="application/xml")


@router.get("/agent-test-runs/{test_run_id}/compare/{base_test_run_id}", dependencies=READ)
async def compare_test_runs(
    test_run_id: uuid.UUID, base_test_run_id: uuid.UUID, session: SessionDep
) -> TestComparison:
    """What changed from ``base_test_run_id`` to this run: regressions (passed → failed or error),
    fixes, and the score, pass-rate and latency deltas."""
    return await agent_test_service.compare(
        session, base_run_id=base_test_run_id, head_run_id=test_run_id
    )
