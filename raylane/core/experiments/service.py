"""Experiment tracking use cases: experiments, tracking runs, batch logging, artifacts, search
and compare. Training and Tune runs log through these same calls as the SDK does.

Metric points are telemetry: a batch of metrics alone writes no audit event (a training run logs
one per step); creating and ending runs, params and tags, and artifacts are audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.collections import objects
from raylane.core.collections.repository import ObjectDeletionRepository
from raylane.core.datasets.service import dataset_service
from raylane.core.experiments import filters
from raylane.core.experiments.models import (
    ENDED,
    Artifact,
    Experiment,
    ExperimentRun,
    ExperimentRunStatus,
    MetricPoint,
)
from raylane.core.experiments.repository import (
    ArtifactRepository,
    ExperimentRepository,
    ExperimentRunRepository,
    MetricRepository,
)
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.core.runs.service import run_service
from raylane.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from raylane.infra.db.paging import Page, keyset_page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.infra.ids import uuid7
from raylane.infra.storage import ObjectStore
from raylane.schemas.experiments import ARTIFACT_PATH

_ARTIFACT_PATH = re.compile(ARTIFACT_PATH)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_HISTORY_POINTS = 50_000  # per request: a history longer than this is cut (oldest first)
MAX_COMPARE = 20


@dataclass(frozen=True)
class Metric:
    """One metric point to log; ``timestamp`` defaults to the time the batch arrives."""

    key: str
    value: float
    step: int = 0
    timestamp: datetime | None = None


def artifact_name(filename: str | None) -> str:
    """An artifact path made from an uploaded file's name: its last part, with characters a
    path may not hold replaced by ``_`` and no leading dot."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", base).lstrip(".")[:200]
    return name or "artifact"


def _org(actor: Actor | None, row: Any) -> dict[str, Any]:
    # Jobs log with no actor: the event goes to the row's organization, as system work.
    return {} if actor is not None else {"organization_id": row.organization_id}


class ExperimentService:
    async def create(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Experiment:
        """Create an experiment in a project.

        Raises:
            NotFound: the project is not the caller's.
            Conflict: an experiment with this name exists in the project.
        """
        await project_service.get(session, project_id=project_id)
        experiment = Experiment(
            organization_id=actor.organization_id,
            project_id=project_id,
            name=name,
            description=description,
            tags=dict(tags or {}),
        )
        async with conflict_on_duplicate(session, f"experiment {name!r}"):
            await ExperimentRepository(session).add(experiment)
        await audit_service.log(
            session, actor, "experiment.create", target=experiment, after={"name": name}
        )
        return experiment

    async def get(self, session: AsyncSession, *, experiment_id: uuid.UUID) -> Experiment:
        """One experiment.

        Raises:
            NotFound: missing, or another organization's.
        """
        experiment = await ExperimentRepository(session).get(experiment_id)
        if experiment is None:
            raise NotFound("experiment", experiment_id)
        return experiment

    async def page(
        self,
        session: AsyncSession,
        *,
        project_id: uuid.UUID,
        name: str | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[Experiment]:
        await project_service.get(session, project_id=project_id)
        return await ExperimentRepository(session).page(
            {"project_id": project_id, "name": name}, limit=limit, cursor=cursor
        )

    async def start_run(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        experiment_id: uuid.UUID,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        run_id: uuid.UUID | None = None,
        dataset_version_id: uuid.UUID | None = None,
        parent_id: uuid.UUID | None = None,
    ) -> ExperimentRun:
        """Start a tracking run (status ``running``).

        Args:
            actor: the caller; None for a job, which logs as system work of the experiment's
                organization.
            run_id: the platform run (Ray job) this tracking run belongs to, if any.
            dataset_version_id: the dataset version trained on (the registry's lineage).
            parent_id: the parent tracking run (a Tune trial's search run).

        Raises:
            NotFound: the experiment, the run, the dataset version or the parent is not the
                caller's.
            InvalidInput: the parent is in another experiment.
        """
        experiment = await self.get(session, experiment_id=experiment_id)
        if run_id is not None:
            await run_service.get(session, run_id=run_id)
        if dataset_version_id is not None:
            await dataset_service.version_by_id(session, dataset_version_id=dataset_version_id)
        if parent_id is not None:
            parent = await self.get_run(session, experiment_run_id=parent_id)
            if parent.experiment_id != experiment_id:
                raise InvalidInput("the parent run belongs to another experiment")
        run = ExperimentRun(
            organization_id=experiment.organization_id,
            experiment_id=experiment_id,
            name=name or f"run-{uuid7().hex[-8:]}",
            status=ExperimentRunStatus.RUNNING,
            params=dict(params or {}),
            tags=dict(tags or {}),
            metrics={},
            run_id=run_id,
            dataset_version_id=dataset_version_id,
            parent_id=parent_id,
            started_at=datetime.now(UTC),
            created_by=actor.user_id if actor else None,
        )
        await ExperimentRunRepository(session).add(run)
        await audit_service.log(
            session,
            actor,
            "experiment_run.create",
            target=run,
            after={"experiment_id": str(experiment_id), "name": run.name},
            **_org(actor, experiment),
        )
        return run

    async def get_run(
        self, session: AsyncSession, *, experiment_run_id: uuid.UUID
    ) -> ExperimentRun:
        """One tracking run.

        Raises:
            NotFound: missing, or another organization's.
        """
        run = await ExperimentRunRepository(session).get(experiment_run_id)
        if run is None:
            raise NotFound("experiment run", experiment_run_id)
        return run

    async def search_runs(
        self,
        session: AsyncSession,
        *,
        experiment_id: uuid.UUID,
        filter: str | None = None,
        parent_id: uuid.UUID | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[ExperimentRun]:
        """The experiment's runs, newest first, that match ``filter`` (see ``filters``).

        Raises:
            NotFound: the experiment is not the caller's.
            InvalidInput: the filter does not parse (the message quotes the clause).
        """
        clauses = filters.parse(filter)
        await self.get(session, experiment_id=experiment_id)
        repo = ExperimentRunRepository(session)
        stmt = repo.search(experiment_id, clauses, parent_id=parent_id)
        return await keyset_page(
            session, stmt, ExperimentRun.id, limit=limit, cursor=cursor, descending=True
        )

    async def log_batch(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        experiment_run_id: uuid.UUID,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ExperimentRun:
        """Log metric points, params and tags to a run in one go.

        Params are write-once (logging the same value again is fine); tags may change, also
        after the run ended (marking Tune's best trial); metrics and params need a running run.

        Raises:
            NotFound: the run is not the caller's.
            Conflict: metrics or params for an ended run, or a param logged before with another
                value.
        """
        repo = ExperimentRunRepository(session)
        run = await repo.lock(experiment_run_id)
        if run is None:
            raise NotFound("experiment run", experiment_run_id)
        if run.status in ENDED and (metrics or params):
            raise Conflict(f"the run has ended ({run.status}); start a new run to log to")
        if params:
            changed = {k for k, v in params.items() if k in run.params and run.params[k] != v}
            if changed:
                raise Conflict(f"params are logged once: {sorted(changed)[:5]} have other values")
            run.params = {**run.params, **params}
        if tags:
            run.tags = {**run.tags, **tags}
        if metrics:
            await self._add_metrics(session, run, metrics)
        await repo.flush()
        if params or tags:
            await audit_service.log(
                session,
                actor,
                "experiment_run.log",
                target=run,
                after={"params": sorted(params or {}), "tags": dict(tags or {})},
                **_org(actor, run),
            )
        return run

    async def _add_metrics(
        self, session: AsyncSession, run: ExperimentRun, metrics: Sequence[Metric]
    ) -> None:
        now = datetime.now(UTC)
        rows = []
        latest = dict(run.metrics)
        for m in metrics:
            when = m.timestamp or now
            rows.append(
                {
                    "id": uuid7(),
                    "organization_id": run.organization_id,
                    "experiment_run_id": run.id,
                    "key": m.key,
                    "step": m.step,
                    "value": float(m.value),
                    "timestamp": when,
                }
            )
            seen = latest.get(m.key)
            # The latest value is the one at the highest step, the later one on a tie.
            if seen is None or (m.step, when.isoformat()) >= (seen["step"], seen["timestamp"]):
                latest[m.key] = {
                    "value": float(m.value),
                    "step": m.step,
                    "timestamp": when.isoformat(),
                }
        await MetricRepository(session).add_points(rows)
        run.metrics = latest

    async def end_run(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        experiment_run_id: uuid.UUID,
        status: ExperimentRunStatus = ExperimentRunStatus.FINISHED,
    ) -> ExperimentRun:
        """End a running run as ``finished``, ``failed`` or ``killed``. Ending it again with
        the same status is a no-op.

        Raises:
            NotFound: the run is not the caller's.
            InvalidInput: ``running`` is not an end status.
            Conflict: the run already ended with another status.
        """
        if status not in ENDED:
            raise InvalidInput("a run ends as finished, failed or killed")
        run = await ExperimentRunRepository(session).lock(experiment_run_id)
        if run is None:
            raise NotFound("experiment run", experiment_run_id)
        if run.status == status:
            return run
        if run.status in ENDED:
            raise Conflict(f"the run already ended as {run.status}")
        run.status, run.ended_at = status, datetime.now(UTC)
        await ExperimentRunRepository(session).flush()
        await audit_service.log(
            session,
            actor,
            "experiment_run.end",
            target=run,
            before={"status": ExperimentRunStatus.RUNNING.value},
            after={"status": status.value},
            **_org(actor, run),
        )
        return run

    async def metric_history(
        self,
        session: AsyncSession,
        *,
        experiment_run_id: uuid.UUID,
        key: str | None = None,
        limit: int = MAX_HISTORY_POINTS,
    ) -> list[MetricPoint]:
        """Every point of one metric of a run (or of every metric: key None), by key, step and
        time.

        Raises:
            NotFound: the run is not the caller's.
        """
        await self.get_run(session, experiment_run_id=experiment_run_id)
        return await MetricRepository(session).history(
            [experiment_run_id], key, limit=min(limit, MAX_HISTORY_POINTS)
        )

    async def compare(
        self, session: AsyncSession, *, experiment_run_ids: Sequence[uuid.UUID]
    ) -> tuple[list[ExperimentRun], dict[str, dict[str, Any]], list[MetricPoint]]:
        """Runs side by side: the runs, the params that differ (key → run id → value, a
        missing param as None), and every metric point of every run.

        Raises:
            NotFound: one of the runs is not the caller's (named).
            InvalidInput: fewer than two or more than 20 runs.
        """
        ids = list(dict.fromkeys(experiment_run_ids))
        if not 2 <= len(ids) <= MAX_COMPARE:
            raise InvalidInput(f"compare takes 2 to {MAX_COMPARE} distinct runs")
        found = await ExperimentRunRepository(session).get_many(ids)
        for run_id in ids:
            if run_id not in found:
                raise NotFound("experiment run", run_id)
        runs = [found[i] for i in ids]
        keys = sorted({k for r in runs for k in r.params})
        diff = {
            k: {str(r.id): r.params.get(k) for r in runs}
            for k in keys
            if len({repr(r.params.get(k)) for r in runs}) > 1
        }
        points = await MetricRepository(session).history(ids, None, limit=MAX_HISTORY_POINTS)
        return runs, diff, points

    async def log_artifact(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        experiment_run_id: uuid.UUID,
        path: str,
        data: bytes,
        store: ObjectStore,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[Artifact, bool]:
        """Store a file as an artifact of the run under ``path`` (``model/head.pt``).

        The same content under the same path again returns the stored artifact.

        Returns:
            The artifact, and whether it was created.

        Raises:
            NotFound: the run is not the caller's.
            InvalidInput: the path is not ``ARTIFACT_PATH`` (absolute, ``..``, odd characters).
            Conflict: another content is stored under that path.
            PayloadTooLarge: over ``max_bytes``.
        """
        if len(path) > 500 or _ARTIFACT_PATH.fullmatch(path) is None:
            raise InvalidInput(
                "an artifact path is '/'-separated parts of letters, digits, '_', '-' and '.', "
                "each not starting with a dot, at most 200 characters (500 in all)"
            )
        if max_bytes is not None and len(data) > max_bytes:
            raise PayloadTooLarge(f"{len(data)} bytes is over the limit of {max_bytes}")
        run = await ExperimentRunRepository(session).lock(experiment_run_id)
        if run is None:
            raise NotFound("experiment run", experiment_run_id)
        digest = hashlib.sha256(data).hexdigest()
        repo = ArtifactRepository(session)
        same = await repo.by_path(run.id, path)
        if same is not None:
            if same.content_hash == digest:
                return same, False
            raise Conflict(f"artifact {path!r} exists with other content")
        # A fresh object name per write, so an upload that never commits names no live object.
        key = f"{run.organization_id}/experiment-runs/{run.id}/{uuid7()}"
        pending = await objects.record_uploads(
            session, organization_id=run.organization_id, object_keys=[key]
        )
        kind = content_type or "application/octet-stream"
        await asyncio.to_thread(store.put, key, data, content_type=kind)
        artifact = Artifact(
            organization_id=run.organization_id,
            experiment_run_id=run.id,
            path=path,
            size=len(data),
            content_hash=digest,
            content_type=kind[:100],
            object_key=key,
        )
        await repo.add(artifact)
        await ObjectDeletionRepository(session).remove(pending)
        await audit_service.log(
            session,
            actor,
            "experiment_run.artifact",
            target=artifact,
            after={"experiment_run_id": str(run.id), "path": path, "sha256": digest},
            **_org(actor, run),
        )
        return artifact, True

    async def artifacts(
        self, session: AsyncSession, *, experiment_run_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Artifact]:
        await self.get_run(session, experiment_run_id=experiment_run_id)
        return await ArtifactRepository(session).page(
            {"experiment_run_id": experiment_run_id}, limit=limit, cursor=cursor
        )

    async def artifact(
        self, session: AsyncSession, *, experiment_run_id: uuid.UUID, artifact_id: uuid.UUID
    ) -> Artifact:
        """One artifact of a run.

        Raises:
            NotFound: the run or the artifact is not the caller's, or not the run's.
        """
        artifact = await ArtifactRepository(session).get(artifact_id)
        if artifact is None or artifact.experiment_run_id != experiment_run_id:
            raise NotFound("artifact", artifact_id)
        return artifact

    async def artifact_by_path(
        self, session: AsyncSession, *, experiment_run_id: uuid.UUID, path: str
    ) -> Artifact:
        """The run's artifact at ``path``.

        Raises:
            NotFound: no such artifact (or the run is not the caller's).
        """
        found = await ArtifactRepository(session).by_path(experiment_run_id, path)
        if found is None:
            raise NotFound("artifact", path)
        return found

    async def read_artifact(self, artifact: Artifact, *, store: ObjectStore) -> bytes:
        """The artifact's bytes."""
        return await asyncio.to_thread(store.get, artifact.object_key)


experiment_service = ExperimentService()
