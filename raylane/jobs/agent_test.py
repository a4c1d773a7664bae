"""Agent-test job: ``python -m raylane.jobs.agent_test --run-id <uuid>``.

Runs a suite version's cases against the run's target, in parallel on Ray: case workers (async
Ray actors of the ``agent-tests`` workload, so on KubeRay its group scales from zero) each get
their share of the cases in one streaming actor task, run at most their part of
``concurrency`` at once, and stream each result back as it finishes. Each case has its own
timeout and retries of transient target errors (``raylane.core.agenttests.runner``); its
result is stored as soon as it arrives (batched), with the run's progress. A retried attempt
of the run skips the cases already stored, so nothing reported is redone or lost.

The copilot, model and scoring targets are the platform's own Serve deployments, reached by
handle inside the cluster (no API key travels); external agents are called over HTTP with
the egress rules of ``raylane.infra.egress``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from typing import Any

from raylane.config import get_settings
from raylane.core.agenttests import report
from raylane.core.agenttests.models import AgentSuiteVersion
from raylane.core.agenttests.repository import (
    CaseResultRepository,
    SuiteVersionRepository,
    TargetRepository,
)
from raylane.core.agenttests.service import to_case_result
from raylane.core.agenttests.types import CaseResult
from raylane.core.endpoints.repository import CopilotConfigVersionRepository
from raylane.core.rbac import Actor, Permission, Role
from raylane.core.runs.repository import RunRepository
from raylane.infra.db.session import session_scope
from raylane.infra.secrets import open_sealed
from raylane.infra.workloads import task_resources
from raylane.jobs._base import RunContext, main
from raylane.jobs._case_worker import CASES_PER_WORKER, CaseWorker
from raylane.schemas.agent_tests import SuiteDocument

log = logging.getLogger("raylane.jobs.agent_test")

FLUSH_EVERY_S = 0.5  # results and progress are written at most this often


def _row(ctx: RunContext, position: int, result: CaseResult) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "organization_id": ctx.organization_id,
        "run_id": ctx.run_id,
        "position": position,
        "case_id": result.case_id,
        "status": result.status,
        "score": result.score,
        "weight": result.weight,
        "tags": result.tags,
        "output": result.output.replace("\x00", ""),  # Postgres text holds no NUL
        "assertions": [
            {
                "type": v.type,
                "passed": v.passed,
                "score": v.score,
                "detail": v.detail.replace("\x00", ""),
                "data": v.data,
            }
            for v in result.verdicts
        ],
        "latency_ms": result.latency_ms,
        "output_tokens": result.output_tokens,
        "attempts": result.attempts,
        "error": result.error.replace("\x00", "") if result.error else None,
    }


async def _load(ctx: RunContext) -> tuple[AgentSuiteVersion, dict[str, Any], Actor, set[str]]:
    """The pinned suite version, the target's spec (stored targets read and their secrets
    opened), the actor the copilot is asked as, and the cases already done."""
    params = ctx.params
    spec = dict(params["target_spec"])
    async with session_scope(organization_id=ctx.organization_id) as session:
        version = await SuiteVersionRepository(session).get(uuid.UUID(params["suite_version_id"]))
        if version is None:
            raise RuntimeError("the suite version was deleted")
        if spec["kind"] in ("openai", "http"):
            stored = await TargetRepository(session).get(uuid.UUID(spec["target_id"]))
            if stored is None:
                raise RuntimeError("the target was deleted")
            secrets = (
                json.loads(open_sealed(stored.secret_headers)) if stored.secret_headers else {}
            )
            spec.update(
                url=stored.url,
                model=stored.model,
                template=stored.template,
                headers=dict(stored.headers),
                secret_headers=secrets,
            )
        if spec.get("config_version_id"):  # copilot-config:NAME:VERSION, its key included
            config = await CopilotConfigVersionRepository(session).get(
                uuid.UUID(spec["config_version_id"])
            )
            if config is None:
                raise RuntimeError("the copilot configuration version was deleted")
            spec["config_spec"] = dict(config.spec)
        run = await RunRepository(session).get(ctx.run_id)
        assert run is not None
        done = await CaseResultRepository(session).done_case_ids(ctx.run_id)
        user = run.created_by
    # The copilot is asked as the run's creator, with no more than asking takes.
    actor = Actor(
        organization_id=ctx.organization_id,
        user_id=user or uuid.UUID(int=0),
        role=Role.VIEWER,
        permissions=frozenset({Permission.COPILOT_USE, Permission.MODEL_READ}),
    )
    return version, spec, actor, done


async def run_tests(ctx: RunContext) -> dict[str, Any]:
    import ray

    settings = get_settings()
    version, spec, actor, done = await _load(ctx)
    document = SuiteDocument.model_validate(version.document)
    pending = [i for i, case in enumerate(document.cases) if case.id not in done]
    concurrency = max(
        1, min(int(ctx.params.get("concurrency", 8)), settings.agent_tests.max_concurrency)
    )
    total = len(document.cases)
    counts = {"passed": 0, "failed": 0, "error": 0}
    async with session_scope(organization_id=ctx.organization_id) as session:
        for r in await CaseResultRepository(session).for_run(ctx.run_id):
            counts[r.status] += 1
    await ctx.progress(
        stage="running", cases_total=total, cases_done=total - len(pending), **counts
    )
    ray.init(namespace=settings.ray.namespace, ignore_reinit_error=True, log_to_driver=False)
    n_workers = max(1, min(math.ceil(concurrency / CASES_PER_WORKER), len(pending) or 1))
    per_worker = math.ceil(concurrency / n_workers)
    worker_cls: Any = ray.remote(CaseWorker)
    workers: list[Any] = [
        worker_cls.options(**task_resources("agent-tests"), max_concurrency=per_worker).remote(
            document.model_dump(mode="json", by_alias=True), spec, actor
        )
        for _ in range(n_workers)
    ]
    buffer: list[dict[str, Any]] = []
    clock = time.monotonic()
    await asyncio.gather(*(w.ready.remote() for w in workers))
    workers_ready_s = time.monotonic() - clock
    await ctx.progress(workers=n_workers)
    started = time.monotonic()
    finished = [total - len(pending)]

    async def drain(slot: int) -> None:
        """One worker's share, streamed back a result at a time as its cases finish."""
        share = pending[slot::n_workers]
        if not share:
            return
        stream = workers[slot].run_many.options(num_returns="streaming").remote(share, per_worker)
        async for ref in stream:
            for index, result in await ref:
                buffer.append(_row(ctx, index, result))
                counts[result.status] += 1
                finished[0] += 1

    async def flush() -> None:
        rows, buffer[:] = list(buffer), []
        if rows:
            async with session_scope(organization_id=ctx.organization_id) as session:
                await CaseResultRepository(session).save(rows)
        await ctx.progress(cases_done=finished[0], **counts)

    tasks = [asyncio.ensure_future(drain(slot)) for slot in range(n_workers)]
    try:
        while tasks:
            done_now, rest = await asyncio.wait(tasks, timeout=FLUSH_EVERY_S)
            for task in done_now:
                task.result()  # a worker lost (actor died) fails the attempt: it is retried
            tasks = list(rest)
            await flush()  # raises Cancelled when the run was cancelled
    finally:
        for task in tasks:
            task.cancel()
        for worker in workers:
            ray.kill(worker)
    elapsed = time.monotonic() - started
    async with session_scope(organization_id=ctx.organization_id) as session:
        results = [
            to_case_result(r) for r in await CaseResultRepository(session).for_run(ctx.run_id)
        ]
    summary = report.summarize(results, document.threshold)
    return {
        **summary.model_dump(mode="json"),
        "suite": ctx.params["suite"],
        "suite_version": ctx.params["suite_version"],
        "target": ctx.params["target"],
        "workers": n_workers,
        "workers_ready_seconds": round(workers_ready_s, 3),  # actors started, targets built
        "cases_seconds": round(elapsed, 3),  # first case sent -> last result stored
    }


if __name__ == "__main__":
    main(run_tests)
