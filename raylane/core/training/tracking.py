"""Training's one seam to datasets, experiments and the model registry.

Everything training needs from those services goes through the functions here, so when their
APIs settle only this module changes. Until they land, each function has a stand-in on the
platform's own pieces: the dataset is an object in storage under the organization's prefix,
metrics and trials are kept on the run (``progress`` and ``result``), and a model is the
artifact of a succeeded training run, named by the run id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.config import get_settings
from raylane.core.runs.models import RunStatus
from raylane.core.runs.repository import RunRepository
from raylane.errors import InvalidInput, NotFound
from raylane.infra.storage import ObjectStore, store_from_settings

log = logging.getLogger("raylane.jobs.tracking")

DATASET_FORMATS = ("jsonl", "csv")


def dataset_key(organization_id: uuid.UUID, dataset_version_id: uuid.UUID, fmt: str) -> str:
    """Where a dataset version's content lies (stand-in layout until datasets land)."""
    return f"datasets/{organization_id}/{dataset_version_id}.{fmt}"


def artifact_key(organization_id: uuid.UUID, run_id: uuid.UUID, name: str) -> str:
    return f"artifacts/{organization_id}/runs/{run_id}/{name}"


def _store() -> ObjectStore:
    return store_from_settings(get_settings())


async def check_dataset(
    session: AsyncSession, *, organization_id: uuid.UUID, dataset_version_id: uuid.UUID
) -> None:
    """Raise NotFound unless the version exists in the organization."""
    del session  # the datasets service will look the version up in this session
    store = _store()
    for fmt in DATASET_FORMATS:
        key = dataset_key(organization_id, dataset_version_id, fmt)
        if await asyncio.to_thread(store.exists, key):
            return
    raise NotFound("dataset version", dataset_version_id)


async def read_dataset(
    *, organization_id: uuid.UUID, dataset_version_id: uuid.UUID
) -> tuple[bytes, str]:
    """The version's bytes and format (``jsonl`` or ``csv``).

    Raises:
        NotFound: no such version in the organization.
    """
    store = _store()
    for fmt in DATASET_FORMATS:
        key = dataset_key(organization_id, dataset_version_id, fmt)
        if await asyncio.to_thread(store.exists, key):
            return await asyncio.to_thread(store.get, key), fmt
    raise NotFound("dataset version", dataset_version_id)


async def save_artifact(
    *, organization_id: uuid.UUID, run_id: uuid.UUID, name: str, data: bytes
) -> str:
    """Store one of the run's artifacts; returns its key."""
    key = artifact_key(organization_id, run_id, name)
    await asyncio.to_thread(_store().put, key, data, content_type="application/octet-stream")
    return key


async def log_metrics(
    *, organization_id: uuid.UUID, run_id: uuid.UUID, metrics: list[dict[str, Any]]
) -> None:
    """Append metric points (``{"name", "value", "step"}``) to the run's experiment record.

    Stand-in: the driver keeps the per-epoch series in the run's progress itself, so nothing
    more is stored until the experiments service lands.
    """
    del organization_id, run_id, metrics


async def log_trials(
    *, organization_id: uuid.UUID, run_id: uuid.UUID, trials: list[dict[str, Any]]
) -> None:
    """Record a search's trials as child runs of the run's experiment run (best one marked).

    Stand-in: the trials stay in the run's result until the experiments service lands.
    """
    del organization_id, run_id, trials


@dataclass(frozen=True)
class ModelRef:
    """A servable model version: its id (what replicas are routed by) and its artifact."""

    version_id: str
    artifact_key: str
    name: str
    version: str


async def resolve_model(
    session: AsyncSession, *, name: str, version: str | None, alias: str | None
) -> ModelRef:
    """The model version ``name`` at ``version`` or ``alias`` (latest when neither is given).

    Stand-in until the registry lands: a model is a succeeded training run, named by its id,
    with one version ("1", alias "latest").

    Raises:
        NotFound: no such model or version in the caller's organization.
        InvalidInput: the version or alias is not well formed.
    """
    try:
        run_id = uuid.UUID(name)
    except ValueError:
        raise NotFound("model", name) from None
    if version not in (None, "1") or alias not in (None, "latest"):
        raise NotFound("model version", f"{name}@{version or alias}")
    run = await RunRepository(session).get(run_id)  # row-level security scopes it
    key = (run.result or {}).get("artifact_key") if run is not None else None
    if run is None or run.kind != "train" or run.status != RunStatus.SUCCEEDED or not key:
        raise NotFound("model", name)
    if not isinstance(key, str):
        raise InvalidInput("the model has no artifact")
    return ModelRef(version_id=f"{run.id}:1", artifact_key=key, name=name, version="1")


async def read_artifact(key: str) -> bytes:
    return await asyncio.to_thread(_store().get, key)
