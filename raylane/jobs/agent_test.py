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
import contextlib
import functools
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
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
from raylane.schemas.agent_tests import SuiteDocument

log = logging.getLogger("raylane.jobs.agent_test")

# Cases one worker keeps in flight: a case's CPU in the worker is well under a millisecond (the
# target and the scorers' models work elsewhere), so one async worker is not CPU-bound at 32;
# more workers for a small run only add process starts and contention.
CASES_PER_WORKER = 32
FLUSH_EVERY_S = 0.5  # results and progress are written at most this often
BATCH_S = 0.05  # a worker sends the results finished within this long as one item


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


class CaseWorker:
    """A Ray actor that answers cases of one run: its target and scorers built once."""

    def __init__(self, document: dict[str, Any], spec: dict[str, Any], actor: Actor) -> None:
        self._document = SuiteDocument.model_validate(document)
        self._spec, self._actor = spec, actor
        self._target: Any = None
        self._scorers: Any = None

    def _build(self) -> None:
        import httpx
        from ray import serve

        from raylane.core.agenttests.judge import LlmScorers
        from raylane.core.agenttests.targets import (
            CopilotTarget,
            HttpAgentTarget,
            ModelTarget,
            OpenAITarget,
        )
        from raylane.core.training.tracking import ModelRef
        from raylane.infra.llm import GenerationParams
        from raylane.schemas.agent_tests import HttpTemplate
        from raylane.serve.copilot import ServeCopilot, _delta
        from raylane.serve.deployments import APP_NAME
        from raylane.serve.models import ServeModels

        settings = get_settings()
        spec = self._spec
        kind = spec["kind"]
        if kind == "copilot":
            copilot = ServeCopilot(
                serve.get_deployment_handle("Copilot", app_name=APP_NAME),
                serve.get_deployment_handle("LLM", app_name=APP_NAME),
                settings.llm.model_name,
            )
            self._target = CopilotTarget(
                copilot.chat,
                self._actor,
                uuid.UUID(spec["project_id"]),
                config=spec.get("config_spec"),  # copilot-config:NAME:VERSION
            )
        elif kind == "model":
            models = ServeModels(serve.get_deployment_handle("ModelServer", app_name=APP_NAME))
            ref = ModelRef(
                version_id=spec["version_id"],
                artifact_key=spec["artifact_key"],
                name=spec["name"],
                version=spec["version"],
            )

            self._target = ModelTarget(models.predict, ref)
        else:
            client = httpx.AsyncClient(follow_redirects=False)
            allow = settings.agent_tests.allow_private_targets
            if kind == "openai":
                self._target = OpenAITarget(
                    spec["url"],
                    spec["model"],
                    spec["headers"],
                    spec["secret_headers"],
                    client=client,
                    allow_private=allow,
                )
            else:
                self._target = HttpAgentTarget(
                    spec["url"],
                    HttpTemplate.model_validate(spec["template"] or {}),
                    spec["headers"],
                    spec["secret_headers"],
                    client=client,
                    allow_private=allow,
                )
        model = settings.embeddings.default_model

        # The scorers' handles are made on first use: a suite with no semantic or judge
        # assertion never starts Serve's handle machinery in this worker.
        @functools.cache
        def handle(name: str) -> Any:
            return serve.get_deployment_handle(name, app_name=APP_NAME)

        async def embed(text: str) -> list[float]:
            vector: list[float] = await handle("Embedder").embed.remote(model, text)
            return vector

        async def generate(
            messages: list[dict[str, str]], params: GenerationParams
        ) -> AsyncIterator[Any]:
            stream: Any = handle("LLM").options(stream=True).generate.remote(messages, params)
            async for d in stream:
                yield _delta(d)

        self._scorers = LlmScorers(embed, generate)

    async def ready(self) -> None:
        """Build the target and scorers (so the first case does not pay for it)."""
        if self._target is None:
            self._build()
            # What the first cases would otherwise import while the run's clock runs: the
            # case runner and assertions, and httpx's async backend (its first request's import).
            import anyio  # noqa: F401

            from raylane.core.agenttests import assertions, runner  # noqa: F401

    async def run_many(
        self, indices: list[int], limit: int
    ) -> AsyncIterator[list[tuple[int, CaseResult]]]:
        """Run these cases, at most ``limit`` at once; yield results as they finish, each item
        every result finished by then (a streaming actor task: one call per worker, not one
        per case; cases that finish together cross to the driver as one item)."""
        from raylane.core.agenttests.assertions import error_result
        from raylane.core.agenttests.runner import run_case

        await self.ready()
        gate = asyncio.Semaphore(limit)
        finished: asyncio.Queue[tuple[int, CaseResult]] = asyncio.Queue()
        all_in, ended = asyncio.Event(), [0]  # every case of this share has finished

        async def one(index: int) -> None:
            case = self._document.cases[index]
            try:
                async with gate:
                    result = await run_case(self._document, case, self._target, self._scorers)
            except Exception as exc:  # a scoring bug is this case's error, never a lost case
                log.exception("case %s failed", case.id)
                result = error_result(case, f"internal error: {type(exc).__name__}", attempts=1)
            finished.put_nowait((index, result))
            ended[0] += 1
            if ended[0] == len(indices):
                all_in.set()

        tasks = [asyncio.ensure_future(one(i)) for i in indices]
        left = len(indices)
        try:
            while left:
                batch = [await finished.get()]
                # Results that finish close together cross as one item (fewer Ray objects),
                # but the last ones are never held back.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_in.wait(), BATCH_S)
                while not finished.empty():
                    batch.append(finished.get_nowait())
                left -= len(batch)
                yield batch
        finally:
            for task in tasks:
                task.cancel()


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
