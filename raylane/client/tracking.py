"""The tracking run a notebook or a job logs to: what ``client.experiments.start_run`` returns.

Each call sends at once (no buffering), through the experiments resource; the object only
remembers the run's latest state (``info``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from raylane.client.resources.documents import FileInput
from raylane.schemas.experiments import ArtifactRead, EndStatus, ExperimentRunRead

if TYPE_CHECKING:
    from raylane.client.resources.experiments import AsyncExperiments, Experiments


def metric_points(
    metrics: Mapping[str, float], step: int | None, timestamp: datetime | None = None
) -> list[dict[str, Any]]:
    """The wire form of ``{key: value}`` at one step."""
    return [
        {"key": k, "value": v, "step": step or 0}
        | ({} if timestamp is None else {"timestamp": timestamp})
        for k, v in metrics.items()
    ]


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
