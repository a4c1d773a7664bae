"""Experiment tracking, MLflow-style: experiments, tracking runs and what they log.

Example (a notebook that trains by hand)::

    with client.experiments.start_run(project=project.id, experiment="intent",
                                      params={"lr": 0.01}) as run:
        for epoch in range(3):
            run.log_metrics({"loss": loss, "accuracy": acc}, step=epoch)
        run.log_artifact("head.pt", artifact_path="model/head.pt")
    # ended "finished"; an exception inside the block ends it "failed" and propagates
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Final

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
)
from raylane.client.errors import Conflict, ValidationError
from raylane.client.resources.datasets import adownload, download
from raylane.client.resources.documents import FileInput, file_parts
from raylane.client.resources.projects import PROJECTS
from raylane.client.tracking import ActiveRun, AsyncActiveRun
from raylane.schemas.common import Page
from raylane.schemas.experiments import (
    ArtifactRead,
    ArtifactUploaded,
    EndStatus,
    ExperimentCreate,
    ExperimentRead,
    ExperimentRunCreate,
    ExperimentRunRead,
    LogBatch,
    MetricHistory,
    RunCompare,
    RunComparison,
    RunEnd,
)

EXPERIMENTS: Final = Collection("/api/v1/experiments", ExperimentRead)
RUNS: Final = Collection("/api/v1/experiment-runs", ExperimentRunRead)


def _text(values: Mapping[str, Any] | None) -> dict[str, str]:
    # Params and tags are text on the server (as in MLflow): numbers are sent as written.
    return {str(k): v if isinstance(v, str) else str(v) for k, v in (values or {}).items()}


def _is_id(value: Ident) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class _Experiments:
    """Request shapes of the experiment routes; both resource groups send them."""

    @staticmethod
    def in_project(project_id: Ident) -> Collection[ExperimentRead]:
        return Collection(f"{PROJECTS.item(project_id)}/experiments", ExperimentRead)

    @staticmethod
    def create(
        project_id: Ident, name: str, description: str | None, tags: Mapping[str, Any] | None
    ) -> Call[ExperimentRead]:
        data = body(ExperimentCreate, name=name, description=description, tags=_text(tags))
        return _Experiments.in_project(project_id).create(data, ExperimentRead)

    @staticmethod
    def runs(experiment_id: Ident) -> Collection[ExperimentRunRead]:
        return Collection(f"{EXPERIMENTS.item(experiment_id)}/runs", ExperimentRunRead)

    @staticmethod
    def start(experiment_id: Ident, fields: Mapping[str, Any]) -> Call[ExperimentRunRead]:
        data = body(ExperimentRunCreate, **fields)
        return _Experiments.runs(experiment_id).create(data, ExperimentRunRead)

    @staticmethod
    def log(
        run_id: Ident,
        metrics: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any] | None,
        tags: Mapping[str, Any] | None,
    ) -> Call[ExperimentRunRead]:
        data = body(LogBatch, metrics=list(metrics), params=_text(params), tags=_text(tags))
        return Call("POST", f"{RUNS.item(run_id)}/log", RUNS.parse, json=data)

    @staticmethod
    def end(run_id: Ident, status: EndStatus) -> Call[ExperimentRunRead]:
        data = body(RunEnd, status=status)
        return Call("POST", f"{RUNS.item(run_id)}/end", RUNS.parse, json=data)

    @staticmethod
    def history(run_id: Ident, key: str | None) -> Call[list[MetricHistory]]:
        def parse(data: Any) -> list[MetricHistory]:
            return [MetricHistory.model_validate(h) for h in data]

        path = f"{RUNS.item(run_id)}/metric-history"
        return Call("GET", path, parse, params={"key": key})

    @staticmethod
    def compare(run_ids: Sequence[Ident]) -> Call[RunComparison]:
        data = body(RunCompare, experiment_run_ids=[str(i) for i in run_ids])
        return Call(
            "POST", "/api/v1/experiment-comparisons", RunComparison.model_validate, json=data
        )

    @staticmethod
    def artifacts(run_id: Ident) -> Collection[ArtifactRead]:
        return Collection(f"{RUNS.item(run_id)}/artifacts", ArtifactRead)

    @staticmethod
    def log_artifact(
        run_id: Ident, file: FileInput, artifact_path: str | None
    ) -> Call[ArtifactUploaded]:
        parts = [("file", file_parts([file])[0][1])]
        form = None if artifact_path is None else {"path": artifact_path}
        path = _Experiments.artifacts(run_id).path
        return Call("POST", path, ArtifactUploaded.model_validate, files=parts, form=form)


def _start_fields(
    name: str | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    run_id: Ident | None,
    dataset_version_id: Ident | None,
    parent_id: Ident | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"params": _text(params), "tags": _text(tags)}
    for key, value in (
        ("name", name),
        ("run_id", run_id),
        ("dataset_version_id", dataset_version_id),
        ("parent_id", parent_id),
    ):
        if value is not None:
            fields[key] = str(value)
    return fields


class Experiments(SyncResource):
    """Experiments and their tracking runs."""

    def create(
        self,
        project_id: Ident,
        *,
        name: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ExperimentRead:
        """Create an experiment in a project.

        Raises:
            Conflict: the project has an experiment with this name.
            NotFound: the project does not exist or belongs to another organization.
        """
        return self._run(_Experiments.create(project_id, name, description, tags))

    def list(
        self,
        project_id: Ident,
        *,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ExperimentRead]:
        """One page of the project's experiments (``name``: only the one with that name)."""
        found = _Experiments.in_project(project_id)
        return self._run(found.list(limit=limit, cursor=cursor, name=name))

    def get(self, experiment_id: Ident) -> ExperimentRead:
        """One experiment.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(EXPERIMENTS.get(experiment_id))

    def get_or_create(self, project_id: Ident, name: str) -> ExperimentRead:
        """The project's experiment called ``name``, created if there is none."""
        found = self.list(project_id, name=name, limit=1).items
        if found:
            return found[0]
        try:
            return self.create(project_id, name=name)
        except Conflict:  # created meanwhile by someone else
            return self.list(project_id, name=name, limit=1).items[0]

    def start_run(
        self,
        *,
        experiment: Ident,
        project: Ident | None = None,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: Ident | None = None,
        dataset_version_id: Ident | None = None,
        parent_id: Ident | None = None,
    ) -> ActiveRun:
        """Start a tracking run and return it for logging.

        Args:
            experiment: An experiment id, or a name (then ``project`` is needed; the experiment
                is created if missing, like ``mlflow.set_experiment``).
            project: The project of a named experiment.
            params: Params logged at the start (values sent as text).
            run_id: The platform run (a training job) this run belongs to.
            dataset_version_id: The dataset version trained on (the registry's lineage).
            parent_id: The parent tracking run (a search's trials).

        Raises:
            ValidationError: a name without a project.
            NotFound: the experiment, project or a linked id is not the caller's.
        """
        experiment_id = self._experiment_id(experiment, project)
        fields = _start_fields(name, params, tags, run_id, dataset_version_id, parent_id)
        return ActiveRun(self, self._run(_Experiments.start(experiment_id, fields)))

    def _experiment_id(self, experiment: Ident, project: Ident | None) -> Ident:
        if _is_id(experiment):
            return experiment
        if project is None:
            raise ValidationError("an experiment named by name needs project=")
        return self.get_or_create(project, str(experiment)).id

    def list_runs(
        self,
        experiment_id: Ident,
        *,
        filter: str | None = None,
        parent_id: Ident | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ExperimentRunRead]:
        """One page of runs, newest first, matching ``filter``
        (``metric.accuracy > 0.8 and tag.team = 'nlp'``).

        Raises:
            ValidationError: the filter does not parse.
        """
        runs = _Experiments.runs(experiment_id)
        return self._run(runs.list(limit=limit, cursor=cursor, filter=filter, parent_id=parent_id))

    def iter_runs(
        self,
        experiment_id: Ident,
        *,
        filter: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[ExperimentRunRead]:
        """Every run matching ``filter``, newest first."""
        runs = _Experiments.runs(experiment_id)
        return self._pages(lambda c: runs.list(limit=page_size, cursor=c, filter=filter))

    def get_run(self, run_id: Ident) -> ExperimentRunRead:
        """One tracking run.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(RUNS.get(run_id))

    def log_batch(
        self,
        run_id: Ident,
        *,
        metrics: Sequence[Mapping[str, Any]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ExperimentRunRead:
        """Log metric points (``{"key", "value", "step"[, "timestamp"]}``), params and tags
        in one request, all or nothing.

        Raises:
            Conflict: metrics or params for an ended run, or a param with another value.
        """
        return self._run(_Experiments.log(run_id, metrics, params, tags))

    def end_run(self, run_id: Ident, *, status: EndStatus = "finished") -> ExperimentRunRead:
        """End a run as ``finished``, ``failed`` or ``killed``.

        Raises:
            Conflict: it already ended with another status.
        """
        return self._run(_Experiments.end(run_id, status))

    def metric_history(
        self, run_id: Ident, *, key: str | None = None
    ) -> builtins.list[MetricHistory]:
        """Each metric's points (or one metric's), by step."""
        return self._run(_Experiments.history(run_id, key))

    def compare(self, run_ids: Sequence[Ident]) -> RunComparison:
        """Runs side by side: the params that differ and every metric's points per run.

        Raises:
            NotFound: one of the runs is not the caller's.
        """
        return self._run(_Experiments.compare(run_ids))

    def log_artifact(
        self, run_id: Ident, file: FileInput, *, artifact_path: str | None = None
    ) -> ArtifactUploaded:
        """Store a file as an artifact of the run (the same content at the same path again is a
        no-op).

        Raises:
            Conflict: another content is stored at that path.
        """
        return self._run(_Experiments.log_artifact(run_id, file, artifact_path))

    def list_artifacts(
        self, run_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ArtifactRead]:
        """One page of the run's artifacts."""
        return self._run(_Experiments.artifacts(run_id).list(limit=limit, cursor=cursor))

    def download_artifact(self, run_id: Ident, artifact_id: Ident) -> bytes:
        """An artifact's bytes."""
        path = f"{_Experiments.artifacts(run_id).item(artifact_id)}/content"
        return download(self._http, path)


class AsyncExperiments(AsyncResource, twin=Experiments):
    async def create(
        self,
        project_id: Ident,
        *,
        name: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ExperimentRead:
        return await self._run(_Experiments.create(project_id, name, description, tags))

    async def list(
        self,
        project_id: Ident,
        *,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ExperimentRead]:
        found = _Experiments.in_project(project_id)
        return await self._run(found.list(limit=limit, cursor=cursor, name=name))

    async def get(self, experiment_id: Ident) -> ExperimentRead:
        return await self._run(EXPERIMENTS.get(experiment_id))

    async def get_or_create(self, project_id: Ident, name: str) -> ExperimentRead:
        found = (await self.list(project_id, name=name, limit=1)).items
        if found:
            return found[0]
        try:
            return await self.create(project_id, name=name)
        except Conflict:
            return (await self.list(project_id, name=name, limit=1)).items[0]

    async def start_run(
        self,
        *,
        experiment: Ident,
        project: Ident | None = None,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: Ident | None = None,
        dataset_version_id: Ident | None = None,
        parent_id: Ident | None = None,
    ) -> AsyncActiveRun:
        if _is_id(experiment):
            experiment_id: Ident = experiment
        elif project is None:
            raise ValidationError("an experiment named by name needs project=")
        else:
            experiment_id = (await self.get_or_create(project, str(experiment))).id
        fields = _start_fields(name, params, tags, run_id, dataset_version_id, parent_id)
        return AsyncActiveRun(self, await self._run(_Experiments.start(experiment_id, fields)))

    async def list_runs(
        self,
        experiment_id: Ident,
        *,
        filter: str | None = None,
        parent_id: Ident | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ExperimentRunRead]:
        runs = _Experiments.runs(experiment_id)
        return await self._run(
            runs.list(limit=limit, cursor=cursor, filter=filter, parent_id=parent_id)
        )

    def iter_runs(
        self,
        experiment_id: Ident,
        *,
        filter: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[ExperimentRunRead]:
        runs = _Experiments.runs(experiment_id)
        return self._pages(lambda c: runs.list(limit=page_size, cursor=c, filter=filter))

    async def get_run(self, run_id: Ident) -> ExperimentRunRead:
        return await self._run(RUNS.get(run_id))

    async def log_batch(
        self,
        run_id: Ident,
        *,
        metrics: Sequence[Mapping[str, Any]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ExperimentRunRead:
        return await self._run(_Experiments.log(run_id, metrics, params, tags))

    async def end_run(self, run_id: Ident, *, status: EndStatus = "finished") -> ExperimentRunRead:
        return await self._run(_Experiments.end(run_id, status))

    async def metric_history(
        self, run_id: Ident, *, key: str | None = None
    ) -> builtins.list[MetricHistory]:
        return await self._run(_Experiments.history(run_id, key))

    async def compare(self, run_ids: Sequence[Ident]) -> RunComparison:
        return await self._run(_Experiments.compare(run_ids))

    async def log_artifact(
        self, run_id: Ident, file: FileInput, *, artifact_path: str | None = None
    ) -> ArtifactUploaded:
        return await self._run(_Experiments.log_artifact(run_id, file, artifact_path))

    async def list_artifacts(
        self, run_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ArtifactRead]:
        return await self._run(_Experiments.artifacts(run_id).list(limit=limit, cursor=cursor))

    async def download_artifact(self, run_id: Ident, artifact_id: Ident) -> bytes:
        path = f"{_Experiments.artifacts(run_id).item(artifact_id)}/content"
        return await adownload(self._http, path)
