"""Agent tests: suites (versioned documents), stored targets, test runs, results, JUnit reports
and comparisons. A test run is a run: follow it with ``client.runs.wait`` (or
``client.agent_tests.wait``, which returns the test run with its summary)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
    present,
    segment,
)
from raylane.client.resources.runs import asend_creation, idempotent, send_creation
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


def _suites(project_id: Ident) -> Collection[SuiteRead]:
    return Collection(f"/api/v1/projects/{segment(project_id)}/agent-suites", SuiteRead)


def _targets(project_id: Ident) -> Collection[TargetRead]:
    return Collection(f"/api/v1/projects/{segment(project_id)}/agent-targets", TargetRead)


def _runs(project_id: Ident) -> Collection[TestRunRead]:
    return Collection(f"/api/v1/projects/{segment(project_id)}/agent-test-runs", TestRunRead)


def _results(run_id: Ident) -> Collection[CaseResultRead]:
    return Collection(f"/api/v1/agent-test-runs/{segment(run_id)}/results", CaseResultRead)


class _AgentTests:
    """The request shapes both resource groups below send."""

    @staticmethod
    def add_suite(project_id: Ident, name: str, content: str) -> Call[SuiteVersionRead]:
        data = body(SuiteCreate, name=name, content=content)
        return _suites(project_id).create(data, SuiteVersionRead)

    @staticmethod
    def suite_version(suite_id: Ident, version: int) -> Call[SuiteVersionDetail]:
        return Call(
            "GET",
            f"/api/v1/agent-suites/{segment(suite_id)}/versions/{int(version)}",
            SuiteVersionDetail.model_validate,
        )

    @staticmethod
    def create_target(project_id: Ident, fields: dict[str, Any]) -> Call[TargetRead]:
        return _targets(project_id).create(body(TargetCreate, **present(**fields)), TargetRead)

    @staticmethod
    def start(project_id: Ident, fields: dict[str, Any], key: str | None) -> Call[TestRunRead]:
        call = _runs(project_id).create(body(TestRunCreate, **present(**fields)), TestRunRead)
        return idempotent(call, key)

    @staticmethod
    def get_run(run_id: Ident) -> Call[TestRunRead]:
        return Call("GET", f"/api/v1/agent-test-runs/{segment(run_id)}", TestRunRead.model_validate)

    @staticmethod
    def results(
        run_id: Ident, status: str | None, limit: int | None, cursor: str | None
    ) -> Call[Page[CaseResultRead]]:
        call = _results(run_id).list(limit=limit, cursor=cursor)
        if status is None:
            return call
        return Call(
            call.method, call.path, call.parse, params={**(call.params or {}), "status": status}
        )

    @staticmethod
    def junit(run_id: Ident) -> Call[str]:
        return Call("GET", f"/api/v1/agent-test-runs/{segment(run_id)}/junit", str, text=True)

    @staticmethod
    def compare(run_id: Ident, base_run_id: Ident) -> Call[TestComparison]:
        return Call(
            "GET",
            f"/api/v1/agent-test-runs/{segment(run_id)}/compare/{segment(base_run_id)}",
            TestComparison.model_validate,
        )


def _run_fields(
    suite: str,
    target: str,
    version: int | None,
    concurrency: int | None,
    max_attempts: int | None,
) -> dict[str, Any]:
    return {
        "suite": suite,
        "target": target,
        "version": version,
        "concurrency": concurrency,
        "max_attempts": max_attempts,
    }


def _target_fields(
    name: str,
    kind: str,
    url: str,
    model: str | None,
    template: dict[str, Any] | None,
    headers: dict[str, str] | None,
    secret_headers: dict[str, str] | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "url": url,
        "model": model,
        "template": template,
        "headers": headers,
        "secret_headers": secret_headers,
    }


class AgentTests(SyncResource):
    """Agent-test suites, targets and runs of a project."""

    def add_suite(self, project_id: Ident, name: str, content: str) -> SuiteVersionRead:
        """Store a suite document (YAML or JSON text) as the named suite's next version (the
        same document again answers the existing version).

        Raises:
            ValidationError: the document is not a valid suite (the message names the case
                and field; ``errors`` lists them).
            NotFound: no such project.
        """
        return self._run(_AgentTests.add_suite(project_id, name, content))

    def suites(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[SuiteRead]:
        """Every suite of the project."""
        suites = _suites(project_id)
        return self._pages(lambda cursor: suites.list(limit=page_size, cursor=cursor))

    def suite_version(self, suite_id: Ident, version: int) -> SuiteVersionDetail:
        """One suite version with its validated document."""
        return self._run(_AgentTests.suite_version(suite_id, version))

    def create_target(
        self,
        project_id: Ident,
        *,
        name: str,
        kind: str,
        url: str,
        model: str | None = None,
        template: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        secret_headers: dict[str, str] | None = None,
    ) -> TargetRead:
        """Store an external agent (``openai`` or ``http``); secret headers are kept
        encrypted and never returned."""
        fields = _target_fields(name, kind, url, model, template, headers, secret_headers)
        return self._run(_AgentTests.create_target(project_id, fields))

    def start(
        self,
        project_id: Ident,
        *,
        suite: str,
        target: str,
        version: int | None = None,
        concurrency: int | None = None,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> TestRunRead:
        """Queue a run of suite ``suite`` (its latest version unless ``version``) against
        ``target`` (``copilot``, ``model:NAME@ALIAS``, ``model:NAME:VERSION`` or
        ``target:NAME``). Sent with an ``Idempotency-Key``: one call makes one run."""
        fields = _run_fields(suite, target, version, concurrency, max_attempts)
        return send_creation(self._run, _AgentTests.start(project_id, fields, idempotency_key))

    def get(self, run_id: Ident) -> TestRunRead:
        """A test run: status, live progress, and its summary once done."""
        return self._run(_AgentTests.get_run(run_id))

    def runs(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[TestRunRead]:
        """Every test run of the project, newest first."""
        runs = _runs(project_id)
        return self._pages(lambda cursor: runs.list(limit=page_size, cursor=cursor))

    def results(
        self, run_id: Ident, *, status: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[CaseResultRead]:
        """Every case result of a run (optionally only ``passed``, ``failed`` or ``error``)."""
        return self._pages(lambda cursor: _AgentTests.results(run_id, status, page_size, cursor))

    def junit(self, run_id: Ident) -> str:
        """The run's results as JUnit XML."""
        return self._run(_AgentTests.junit(run_id))

    def compare(self, run_id: Ident, base_run_id: Ident) -> TestComparison:
        """Regressions, fixes and deltas from ``base_run_id`` to ``run_id``."""
        return self._run(_AgentTests.compare(run_id, base_run_id))


class AsyncAgentTests(AsyncResource, twin=AgentTests):
    """Async form of :class:`AgentTests`."""

    async def add_suite(self, project_id: Ident, name: str, content: str) -> SuiteVersionRead:
        return await self._run(_AgentTests.add_suite(project_id, name, content))

    def suites(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[SuiteRead]:
        suites = _suites(project_id)
        return self._pages(lambda cursor: suites.list(limit=page_size, cursor=cursor))

    async def suite_version(self, suite_id: Ident, version: int) -> SuiteVersionDetail:
        return await self._run(_AgentTests.suite_version(suite_id, version))

    async def create_target(
        self,
        project_id: Ident,
        *,
        name: str,
        kind: str,
        url: str,
        model: str | None = None,
        template: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        secret_headers: dict[str, str] | None = None,
    ) -> TargetRead:
        fields = _target_fields(name, kind, url, model, template, headers, secret_headers)
        return await self._run(_AgentTests.create_target(project_id, fields))

    async def start(
        self,
        project_id: Ident,
        *,
        suite: str,
        target: str,
        version: int | None = None,
        concurrency: int | None = None,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> TestRunRead:
        fields = _run_fields(suite, target, version, concurrency, max_attempts)
        return await asend_creation(
            self._run, _AgentTests.start(project_id, fields, idempotency_key)
        )

    async def get(self, run_id: Ident) -> TestRunRead:
        return await self._run(_AgentTests.get_run(run_id))

    def runs(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[TestRunRead]:
        runs = _runs(project_id)
        return self._pages(lambda cursor: runs.list(limit=page_size, cursor=cursor))

    def results(
        self, run_id: Ident, *, status: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[CaseResultRead]:
        return self._pages(lambda cursor: _AgentTests.results(run_id, status, page_size, cursor))

    async def junit(self, run_id: Ident) -> str:
        return await self._run(_AgentTests.junit(run_id))

    async def compare(self, run_id: Ident, base_run_id: Ident) -> TestComparison:
        return await self._run(_AgentTests.compare(run_id, base_run_id))
