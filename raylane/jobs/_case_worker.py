"""The agent-test case worker: an async Ray actor of the ``agent-tests`` workload that runs its
share of a run's cases against the target and streams the results back to the job's driver
(only the driver writes to the database).

Its own module, so a worker process imports what running cases needs and no more, and Ray
finds the class by name rather than pickling it from the job's ``__main__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from raylane.config import get_settings
from raylane.core.agenttests.types import CaseResult
from raylane.core.rbac import Actor
from raylane.schemas.agent_tests import SuiteDocument

log = logging.getLogger("raylane.jobs.agent_test")

# Cases one worker keeps in flight: a case's CPU in the worker is well under a millisecond (the
# target and the scorers' models work elsewhere), so one async worker is not CPU-bound at 32;
# more workers for a small run only add process starts and contention.
CASES_PER_WORKER = 32
BATCH_S = 0.05  # a worker sends the results finished within this long as one item


@functools.cache
def _handle(name: str) -> Any:
    """A handle to one of the platform's deployments. Made on first use: Serve's client costs
    a worker seconds to import and start, which a run against an external agent with no
    model-scored assertion never needs."""
    from ray import serve

    from raylane.infra.workloads import serve_app

    return serve.get_deployment_handle(name, app_name=serve_app().app_name)


def _scorers(model: str) -> Any:
    """The semantic-similarity and judge scorers, over the Embedder and LLM deployments."""
    from raylane.core.agenttests.judge import LlmScorers
    from raylane.infra.llm import GenerationParams

    async def embed(text: str) -> list[float]:
        vector: list[float] = await _handle("Embedder").embed.remote(model, text)
        return vector

    async def generate(
        messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[Any]:
        from raylane.serve.copilot import _delta

        stream: Any = _handle("LLM").options(stream=True).generate.remote(messages, params)
        async for d in stream:
            yield _delta(d)

    return LlmScorers(embed, generate)


class CaseWorker:
    """A Ray actor that answers cases of one run: its target and scorers built once."""

    def __init__(self, document: dict[str, Any], spec: dict[str, Any], actor: Actor) -> None:
        self._document = SuiteDocument.model_validate(document)
        self._spec, self._actor = spec, actor
        self._target: Any = None
        self._scorers: Any = None

    def _build(self) -> None:
        settings = get_settings()
        spec = self._spec
        kind = spec["kind"]
        if kind == "copilot":
            from raylane.core.agenttests.targets import CopilotTarget
            from raylane.serve.copilot import ServeCopilot

            copilot = ServeCopilot(_handle("Copilot"), _handle("LLM"), settings.llm.model_name)
            self._target = CopilotTarget(
                copilot.chat,
                self._actor,
                uuid.UUID(spec["project_id"]),
                config=spec.get("config_spec"),  # copilot-config:NAME:VERSION
            )
        elif kind == "model":
            from raylane.core.agenttests.targets import ModelTarget
            from raylane.core.training.tracking import ModelRef
            from raylane.serve.models import ServeModels

            ref = ModelRef(
                version_id=spec["version_id"],
                artifact_key=spec["artifact_key"],
                name=spec["name"],
                version=spec["version"],
            )
            self._target = ModelTarget(ServeModels(_handle("ModelServer")).predict, ref)
        else:
            import httpx

            from raylane.core.agenttests.targets import HttpAgentTarget, OpenAITarget
            from raylane.schemas.agent_tests import HttpTemplate

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
        self._scorers = _scorers(settings.embeddings.default_model)

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
        """Run these cases, at most ``limit`` at once; yield results as they finish (a
        streaming actor task: one call per worker, not one per case). An item carries the
        results that finished within ``BATCH_S`` of its first; the last ones are not held."""
        from raylane.core.agenttests.assertions import error_result
        from raylane.core.agenttests.runner import run_case

        await self.ready()
        gate = asyncio.Semaphore(limit)
        finished: asyncio.Queue[tuple[int, CaseResult]] = asyncio.Queue()
        all_in = asyncio.Event()  # every case of this share has finished
        ended = 0

        async def one(index: int) -> None:
            nonlocal ended
            case = self._document.cases[index]
            try:
                async with gate:
                    result = await run_case(self._document, case, self._target, self._scorers)
            except Exception as exc:  # a scoring bug is this case's error, never a lost case
                log.exception("case %s failed", case.id)
                result = error_result(case, f"internal error: {type(exc).__name__}", attempts=1)
            finished.put_nowait((index, result))
            ended += 1
            if ended == len(indices):
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
