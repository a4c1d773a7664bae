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
from datetime import datetime
from types import TracebackType
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


def metric_points(
    metrics: Mapping[str, float], step: int | None, timestamp: datetime | None = None
) -> list[dict[str, Any]]:
    """The wire form of ``{key: value}`` at one step."""
    return [
        {"key": k, "value": v, "step": step or 0}
        | ({} if timestamp is None else {"timestamp": timestamp})
        for k, v in metrics.items()
    ]


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


class ActiveRun:
    """A tracking run being logged to; from :meth:`Experiments.start_run`.

    Each call sends at once (no buffering): what was logged is on the server when it returns.
    As a context manager it ends the run ``finished``, or ``failed`` when the block raises.
    """

    def __init__(self, experiments: Experiments, run: ExperimentRunRead) -> None:
        self._experiments = experiments
        self.info = run

    @property
    def id(self) -> uuid.UUID:
        return self.info.id

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one metric point (``step`` defaults to 0, as in MLflow)."""
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at one step, in one request."""
        self.info = self._experiments.log_batch(self.id, metrics=metric_points(metrics, step))

    def log_param(self, key: str, value: Any) -> None:
        """Log one param (params are written once; the same value again is fine)."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (values are sent as text)."""
        self.info = self._experiments.log_batch(self.id, params=params)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (a tag may change; it may also be set after the run ended)."""
        self.info = self._experiments.log_batch(self.id, tags=tags)

    def log_artifact(self, file: FileInput, artifact_path: str | None = None) -> ArtifactRead:
        """Store a file (a path, or ``(name, bytes)``) as an artifact of the run, under
        ``artifact_path`` (default: the file's name)."""
        return self._experiments.log_artifact(self.id, file, artifact_path=artifact_path).artifact

    def end(self, status: EndStatus = "finished") -> None:
        """End the run as ``finished``, ``failed`` or ``killed``."""
        self.info = self._experiments.end_run(self.id, status=status)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.info.status == "running":
            self.end("failed" if exc_type is not None else "finished")


class AsyncActiveRun:
    """Async form of :class:`ActiveRun` (``async with``)."""

    def __init__(self, experiments: AsyncExperiments, run: ExperimentRunRead) -> None:
        self._experiments = experiments
        self.info = run

    @property
    def id(self) -> uuid.UUID:
        return self.info.id

    async def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        await self.log_metrics({key: value}, step=step)

    async def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.info = await self._experiments.log_batch(self.id, metrics=metric_points(metrics, step))

    async def log_param(self, key: str, value: Any) -> None:
        await self.log_params({key: value})

    async def log_params(self, params: Mapping[str, Any]) -> None:
        self.info = await self._experiments.log_batch(self.id, params=params)

    async def set_tag(self, key: str, value: Any) -> None:
        await self.set_tags({key: value})

    async def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.info = await self._experiments.log_batch(self.id, tags=tags)

    async def log_artifact(self, file: FileInput, artifact_path: str | None = None) -> ArtifactRead:
        uploaded = await self._experiments.log_artifact(self.id, file, artifact_path=artifact_path)
        return uploaded.artifact

    async def end(self, status: EndStatus = "finished") -> None:
        self.info = await self._experiments.end_run(self.id, status=status)

    async def __aenter__(self) -> AsyncActiveRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.info.status == "running":
            await self.end("failed" if exc_type is not None else "finished")


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
