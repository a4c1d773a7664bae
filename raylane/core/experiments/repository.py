"""All SQL for experiments, tracking runs, metric points and artifacts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, insert, not_, or_, select

from raylane.core.experiments.filters import Clause
from raylane.core.experiments.models import Artifact, Experiment, ExperimentRun, MetricPoint
from raylane.infra.db.repository import Repository


class ExperimentRepository(Repository[Experiment]):
    model = Experiment


def _condition(clause: Clause) -> ColumnElement[bool]:
    if clause.kind == "status":
        column: Any = ExperimentRun.status
    elif clause.kind == "metric":
        column = ExperimentRun.metrics[clause.key]["value"].as_float()
    else:
        source = ExperimentRun.params if clause.kind == "param" else ExperimentRun.tags
        column = source[clause.key].as_string()
    value = clause.value
    if clause.kind == "metric":
        value = float(value)
    ops: dict[str, ColumnElement[bool]] = {
        ">": column > value,
        ">=": column >= value,
        "<": column < value,
        "<=": column <= value,
        "=": column == value,
    }
    if clause.op == "!=":
        # A run without the key is "not equal" for text, as one would read the filter; a metric
        # comparison needs the metric.
        if clause.kind in ("param", "tag"):
            either: ColumnElement[bool] = or_(column.is_(None), column != value)
            return either
        result: ColumnElement[bool] = and_(column.is_not(None), not_(column == value))
        return result
    return ops[clause.op]


class ExperimentRunRepository(Repository[ExperimentRun]):
    model = ExperimentRun
    newest_first = True

    def search(
        self,
        experiment_id: uuid.UUID,
        clauses: Sequence[Clause],
        *,
        parent_id: uuid.UUID | None = None,
    ) -> Select[ExperimentRun]:
        stmt = select(ExperimentRun).where(ExperimentRun.experiment_id == experiment_id)
        if parent_id is not None:
            stmt = stmt.where(ExperimentRun.parent_id == parent_id)
        for clause in clauses:
            stmt = stmt.where(_condition(clause))
        return stmt

    async def lock(self, experiment_run_id: uuid.UUID) -> ExperimentRun | None:
        """Row-lock the run: batches to one run apply one at a time (its latest metrics)."""
        stmt = (
            select(ExperimentRun)
            .where(ExperimentRun.id == experiment_run_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(stmt)).first()

    async def get_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ExperimentRun]:
        if not ids:
            return {}
        stmt = select(ExperimentRun).where(ExperimentRun.id.in_(list(ids)))
        return {r.id: r for r in await self._session.scalars(stmt)}


class MetricRepository(Repository[MetricPoint]):
    model = MetricPoint

    async def add_points(self, rows: list[dict[str, Any]]) -> None:
        """Insert many points in one statement (executemany)."""
        if rows:
            await self._session.execute(insert(MetricPoint), rows)

    async def history(
        self, experiment_run_ids: Sequence[uuid.UUID], key: str | None, *, limit: int
    ) -> list[MetricPoint]:
        """Points of the runs (of one key, or every key) by run, key, step and time."""
        stmt = select(MetricPoint).where(
            MetricPoint.experiment_run_id.in_(list(experiment_run_ids))
        )
        if key is not None:
            stmt = stmt.where(MetricPoint.key == key)
        stmt = stmt.order_by(
            MetricPoint.experiment_run_id, MetricPoint.key, MetricPoint.step, MetricPoint.timestamp
        ).limit(limit)
        return list(await self._session.scalars(stmt))


class ArtifactRepository(Repository[Artifact]):
    model = Artifact

    async def object_keys_in_project(self, project_id: uuid.UUID) -> list[str]:
        """Every artifact's key in the project's experiments, their tracking runs row-locked
        first (an artifact upload holds its run's lock until it commits)."""
        in_project = ExperimentRun.experiment_id.in_(
            select(Experiment.id).where(Experiment.project_id == project_id)
        )
        await self._session.execute(select(ExperimentRun.id).where(in_project).with_for_update())
        stmt = (
            select(Artifact.object_key)
            .join(ExperimentRun, ExperimentRun.id == Artifact.experiment_run_id)
            .where(in_project)
        )
        return list(await self._session.scalars(stmt))

    async def by_path(self, experiment_run_id: uuid.UUID, path: str) -> Artifact | None:
        stmt = select(Artifact).where(
            Artifact.experiment_run_id == experiment_run_id, Artifact.path == path
        )
        return (await self._session.scalars(stmt)).first()
