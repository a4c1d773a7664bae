"""One case against one target: variables rendered, the per-case timeout, retries of transient
target errors with exponential backoff, then the scoring. A target that times out or fails is
an ``error`` result for that case, never an exception out of here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from raylane.core.agenttests import assertions, suite
from raylane.core.agenttests.types import CaseResult, Observation, Scorers, Target, TargetError
from raylane.schemas.agent_tests import Case, SuiteDocument

log = logging.getLogger("raylane.agenttests")

BACKOFF_S = 0.5  # first retry's wait; doubled each time


async def run_case(
    document: SuiteDocument,
    case: Case,
    target: Target,
    scorers: Scorers,
    *,
    backoff_s: float = BACKOFF_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> CaseResult:
    """Ask ``target`` the case (retrying transient errors) and score its answer."""
    timeout_s = case.timeout_s or document.defaults.timeout_s
    retries = document.defaults.retries
    messages = suite.render(case.messages, case.vars)
    attempt, started = 0, time.monotonic()
    while True:
        attempt += 1
        try:
            observation: Observation = await asyncio.wait_for(
                target.answer(
                    messages, variables=dict(case.vars), context=case.context, timeout_s=timeout_s
                ),
                timeout=timeout_s,
            )
        except TimeoutError:
            return assertions.error_result(
                case, f"timed out after {timeout_s:g} s", attempts=attempt
            )
        except TargetError as exc:
            if exc.transient and attempt <= retries:
                await sleep(backoff_s * 2 ** (attempt - 1))
                continue
            return assertions.error_result(case, str(exc), attempts=attempt)
        except Exception as exc:  # a target's bug is this case's error, not the run's crash
            log.exception("case %s: the target failed", case.id)
            return assertions.error_result(
                case, f"target failed: {type(exc).__name__}", attempts=attempt
            )
        result = await assertions.score_case(document, case, observation, scorers)
        result.attempts = attempt
        log.debug(
            "case %s: %s in %.0f ms", case.id, result.status, (time.monotonic() - started) * 1e3
        )
        return result
