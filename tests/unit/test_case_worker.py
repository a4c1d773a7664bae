"""The agent-test case worker's streaming, run outside Ray over a stub target (logic only; the
real actor against a real agent is in tests/integration/test_agent_tests_api.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from raylane.core.agenttests.types import CaseResult, Observation, TargetError
from raylane.core.rbac import Actor, Role
from raylane.jobs._case_worker import CaseWorker
from raylane.schemas.agent_tests import SuiteDocument


class Echo:
    """Answers each question with itself, ``wait:<ms>`` after that long (an agent's latency);
    ``fail`` raises a non-transient target error."""

    async def answer(self, messages: list[dict[str, str]], **_: Any) -> Observation:
        question = messages[-1]["content"]
        await asyncio.sleep(int(question[5:]) / 1000 if question.startswith("wait:") else 0)
        if question == "fail":
            raise TargetError("HTTP 500")
        return Observation(output=question, latency_ms=1.0)


def worker(questions: list[str]) -> CaseWorker:
    document = SuiteDocument.model_validate(
        {
            "defaults": {"retries": 0},
            "cases": [
                {"id": f"c{i}", "input": q, "assert": [{"type": "contains", "value": q}]}
                for i, q in enumerate(questions)
            ],
        }
    )
    actor = Actor(
        organization_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        role=Role.VIEWER,
        permissions=frozenset(),
    )
    built = CaseWorker(document.model_dump(mode="json", by_alias=True), {"kind": "http"}, actor)
    built._target, built._scorers = Echo(), None  # ready() builds nothing more
    return built


def stream(w: CaseWorker, indices: list[int], limit: int) -> list[list[tuple[int, CaseResult]]]:
    async def collect() -> list[list[tuple[int, CaseResult]]]:
        return [item async for item in w.run_many(indices, limit)]

    return asyncio.run(collect())


def test_every_case_is_answered_once_and_results_finishing_together_share_an_item() -> None:
    questions = [f"wait:{2 * i}" for i in range(12)]  # finishing 2 ms apart, within 24 ms
    items = stream(worker(questions), list(range(12)), limit=12)
    indices = [index for item in items for index, _ in item]
    assert sorted(indices) == list(range(12))
    assert all(result.status == "passed" for item in items for _, result in item)
    assert len(items) <= 3  # batched: not one Ray object per result


def test_a_failing_target_is_that_case_error_and_the_share_still_completes() -> None:
    items = stream(worker(["fine", "fail", "also fine"]), [0, 1, 2], limit=1)
    results = {index: result for item in items for index, result in item}
    assert sorted(results) == [0, 1, 2]
    assert results[1].status == "error" and "HTTP 500" in (results[1].error or "")
    assert results[0].status == results[2].status == "passed"


def test_only_the_given_share_is_run() -> None:
    items = stream(worker(["a", "b", "c", "d"]), [1, 3], limit=2)
    assert sorted(index for item in items for index, _ in item) == [1, 3]
