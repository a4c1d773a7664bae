"""Dataset, experiment and registry services called directly, as the training job and Tune
call them: no actor (system events in the organization's audit chain), child runs, and a
version whose transaction never commits leaving no object behind."""

from __future__ import annotations

from typing import Any

import pytest

from raylane.core.audit.repository import AuditRepository
from raylane.core.collections.objects import sweep_object_deletions
from raylane.core.datasets.service import DatasetUpload, dataset_service
from raylane.core.experiments.service import Metric, experiment_service
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.core.registry.service import registry_service
from raylane.errors import NotFound
from raylane.infra.db.session import Database
from raylane.infra.storage import store_from_settings
from raylane.schemas.projects import ProjectCreate
from tests.integration.services.conftest import Scope

ROWS = b'{"text": "refund please", "label": "billing"}\n{"text": "it crashed", "label": "bug"}\n'


class Boom(Exception):
    pass


async def test_a_job_logs_without_an_actor_and_tune_trials_are_child_runs(
    tenant: Actor, scoped: Scope, services: Any
) -> None:
    store = store_from_settings(services)
    async with scoped(tenant) as session:
        project = await project_service.create(session, actor=tenant, data=ProjectCreate(name="p"))
        dataset = await dataset_service.create(
            session, actor=tenant, project_id=project.id, name="d"
        )
        version, _ = await dataset_service.upload(
            session,
            actor=tenant,
            dataset_id=dataset.id,
            upload=DatasetUpload("d.jsonl", ROWS),
            store=store,
            max_bytes=10_000,
        )
        experiment = await experiment_service.create(
            session, actor=tenant, project_id=project.id, name="search"
        )
    # The job's own transactions: no actor, the tenant from the run.
    async with scoped(tenant) as session:
        search = await experiment_service.start_run(
            session, actor=None, experiment_id=experiment.id, dataset_version_id=version.id
        )
        trials = [
            await experiment_service.start_run(
                session,
                actor=None,
                experiment_id=experiment.id,
                parent_id=search.id,
                params={"lr": lr},
            )
            for lr in ("0.1", "0.01")
        ]
        for trial, acc in zip(trials, (0.6, 0.9), strict=True):
            await experiment_service.log_batch(
                session,
                actor=None,
                experiment_run_id=trial.id,
                metrics=[Metric("accuracy", acc, step=s) for s in range(2)],
            )
            await experiment_service.end_run(session, actor=None, experiment_run_id=trial.id)
        await experiment_service.log_batch(
            session, actor=None, experiment_run_id=trials[1].id, tags={"best": "true"}
        )
        children = await experiment_service.search_runs(
            session,
            experiment_id=experiment.id,
            filter="tag.best = 'true'",
            parent_id=search.id,
            limit=10,
            cursor=None,
        )
        assert [r.id for r in children.items] == [trials[1].id]
        await experiment_service.log_artifact(
            session,
            actor=None,
            experiment_run_id=trials[1].id,
            path="model/head.json",
            data=b"{}",
            store=store,
        )
    async with scoped(tenant) as session:
        await registry_service.create_model(session, actor=tenant, name="intent")
        made = await registry_service.create_version(
            session,
            actor=None,
            name="intent",
            experiment_run_id=trials[1].id,
            artifact_path="model/head.json",
        )
        assert made.version == 1
        events = await AuditRepository(session).events(limit=50, cursor=None)
    system = {e.action for e in events.items if e.actor_type == "system"}
    assert {"experiment_run.create", "experiment_run.end", "model.version.create"} <= system


async def test_a_version_that_never_commits_leaves_no_object(
    tenant: Actor, scoped: Scope, services: Any, db: Database
) -> None:
    store = store_from_settings(services)
    async with scoped(tenant) as session:
        project = await project_service.create(session, actor=tenant, data=ProjectCreate(name="q"))
        dataset = await dataset_service.create(
            session, actor=tenant, project_id=project.id, name="d"
        )
    prefix = f"{tenant.organization_id}/datasets/{dataset.id}/"
    with pytest.raises(Boom):
        async with scoped(tenant) as session:
            await dataset_service.upload(
                session,
                actor=tenant,
                dataset_id=dataset.id,
                upload=DatasetUpload("d.jsonl", ROWS),
                store=store,
                max_bytes=10_000,
            )
            assert store.list(prefix)  # written before the commit...
            raise Boom  # ...which never comes
    await sweep_object_deletions(services, db=db, store=store)
    assert store.list(prefix) == []
    async with scoped(tenant) as session:
        with pytest.raises(NotFound):
            await dataset_service.version(session, dataset_id=dataset.id, version=1)
