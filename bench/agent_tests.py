"""Agent-test execution: a platform test run against a plain ``asyncio.gather`` program, both
calling the same stub agent, plus the demo suite's pass rate on the default copilot.

The agent: ``raylane.testing.stub_agent`` in its own process, answering every request after
``--delay`` (50 ms). The suite: ``--cases`` (200) cases, each one user message and a
``contains`` assertion on the answer.

- Baseline: the program a competent user would write: one ``httpx.AsyncClient``, a semaphore of
  ``--concurrency`` (20), ``asyncio.gather`` over every case, the same assertion checked inline;
  run with Ray, Serve and the databases stopped. Timed from the first request to the last
  answer checked.
- Platform: the path users take: the suite uploaded, a stored HTTP target, ``POST
  /projects/{id}/agent-test-runs`` with the same concurrency, followed to ``succeeded``, every
  case result stored. Three figures per round: the run's own wall time (``started_at`` →
  ``finished_at``: the Ray job's start, its case workers', the cases, every result written),
  the case window the job records (first case sent → last result stored), and the time to
  start its case workers.

``agent_tests_ratio`` = baseline seconds / platform case-window seconds (median over alternating
rounds); ``per_case_overhead_ms`` = (platform window - baseline) x concurrency / cases, the
time each case costs beyond the plain program. The run's end-to-end ratio is printed too.
``demo_pass_rate``: the shipped demo suite (``raylane/data/suites/demo.yaml``) against the demo
project's copilot after first start (``--no-demo`` skips it).

A case that fails its assertion on either side, or a run that does not succeed, exits non-zero.

    .venv/bin/python bench/agent_tests.py [--rounds 3] [--cases 200] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    load_average,
    median_spread,
    platform_env,
    start_platform,
    stop_platform,
    tenant,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO_SUITE = ROOT / "raylane" / "data" / "suites" / "demo.yaml"


@contextmanager
def stub_process(delay: float) -> Iterator[str]:
    """The stub agent in a process of its own (neither side shares its event loop)."""
    code = (
        "import sys, time\n"
        "from raylane.testing.stub_agent import StubAgent\n"
        f"with StubAgent(delay_s={delay}) as url:\n"
        "    print(url, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def suite(cases: int) -> str:
    lines = ["threshold: 1.0", "defaults: {timeout_s: 30, retries: 0}", "cases:"]
    for i in range(cases):
        lines.append(
            f"  - {{id: c{i}, input: 'echo:answer {i}', assert: [{{type: contains, value: "
            f"'answer {i}'}}]}}"
        )
    return "\n".join(lines) + "\n"


async def baseline(url: str, cases: int, concurrency: int) -> float:
    import httpx

    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(i: int) -> bool:
            async with limit:
                r = await client.post(f"{url}/agent", json={"input": f"echo:answer {i}"})
                r.raise_for_status()
                return f"answer {i}" in r.json()["output"]

        await client.post(f"{url}/agent", json={"input": "echo:warm"})  # connect once
        t0 = time.perf_counter()
        passed = await asyncio.gather(*(one(i) for i in range(cases)))
        elapsed = time.perf_counter() - t0
    if not all(passed):
        raise SystemExit(f"baseline: {passed.count(False)} cases failed their assertion")
    return elapsed


def platform_round(client: Any, project: str, cases: int, concurrency: int) -> dict[str, float]:
    run = client.agent_tests.start(
        project, suite="bench", target="target:stub", concurrency=concurrency
    )
    client.runs.wait(run.id, poll=0.2, timeout=600)
    done = client.agent_tests.get(run.id)
    summary = done.summary
    if summary is None or summary.passed != cases:
        raise SystemExit(f"platform: {summary} (expected {cases} passed)")
    assert done.started_at is not None and done.finished_at is not None
    return {
        "run_s": (done.finished_at - done.started_at).total_seconds(),
        "window_s": float(done.result["cases_seconds"]),
        "workers_s": float(done.result["workers_ready_seconds"]),
        "workers": float(done.result.get("workers", 0)),
    }


def demo_pass_rate(settings: Any, admin: Any) -> float:
    """The demo suite against the first-start demo project's copilot (made as ``raylane up``
    makes it on a first start)."""
    from raylane.core.bootstrap.service import ensure_demo

    me = admin.me()
    ingest = asyncio.run(
        ensure_demo(settings, organization_id=me.organization.id, user_id=me.user_id)
    )
    assert ingest is not None
    admin.runs.wait(ingest, timeout=900)
    project = next(p for p in admin.projects.iter() if p.name == "demo")
    admin.agent_tests.add_suite(project.id, "demo", DEMO_SUITE.read_text())
    run = admin.agent_tests.start(project.id, suite="demo", target="copilot", concurrency=4)
    admin.runs.wait(run.id, poll=1.0, timeout=1800)
    summary = admin.agent_tests.get(run.id).summary
    assert summary is not None
    print(
        f"demo suite: {summary.passed}/{summary.cases} passed, score {summary.score:.3f}, "
        f"p50 {summary.latency_p50_ms:.0f} ms, p95 {summary.latency_p95_ms:.0f} ms; by tag "
        + json.dumps({t: round(v["pass_rate"], 3) for t, v in summary.by_tag.items()})
    )
    return float(summary.pass_rate)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.05, help="the stub's answer time (s)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round, no demo suite")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo suite")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    print(f"{datetime.now():%Y-%m-%d %H:%M}; {load_average()}")
    print(
        f"{args.cases} cases, concurrency {args.concurrency}, "
        f"agent answers in {args.delay * 1e3:.0f} ms"
    )
    base: list[float] = []
    plat: list[dict[str, float]] = []
    demo = float("nan")
    with (
        stub_process(args.delay) as agent,
        platform_env(RAYLANE_AGENT_TESTS__ALLOW_PRIVATE_TARGETS="true") as bench,
    ):
        from raylane.client import Client
        from raylane.config import get_settings

        settings = get_settings()
        for r in range(rounds):
            # Alternate the order; Ray and Serve are down while the baseline runs.
            order = ("baseline", "platform") if r % 2 == 0 else ("platform", "baseline")
            for side in order:
                if side == "baseline":
                    base.append(asyncio.run(baseline(agent, args.cases, args.concurrency)))
                    print(f"round {r + 1} baseline: {base[-1]:.3f} s", flush=True)
                    continue
                url = start_platform(settings)
                if r == 0:
                    _, key = tenant(url, bench.admin_key, "agents-bench")
                with Client(url, key, timeout=300) as client:
                    project = str(client.projects.create(name=f"bench-{r}").id)
                    client.agent_tests.create_target(
                        project,
                        name="stub",
                        kind="http",
                        url=f"{agent}/agent",
                        template={"body": {"input": "{{input}}"}, "output": "output"},
                    )
                    client.agent_tests.add_suite(project, "bench", suite(args.cases))
                    plat.append(platform_round(client, project, args.cases, args.concurrency))
                print(
                    f"round {r + 1} platform: run {plat[-1]['run_s']:.3f} s, case window "
                    f"{plat[-1]['window_s']:.3f} s, workers ready {plat[-1]['workers_s']:.3f} s "
                    f"({plat[-1]['workers']:.0f} case workers)",
                    flush=True,
                )
                stop_platform(settings)
        if not (args.quick or args.no_demo):
            url = start_platform(settings)
            with Client(url, bench.admin_key, timeout=300) as admin:
                demo = demo_pass_rate(settings, admin)
            stop_platform(settings)
    window = [p["window_s"] for p in plat]
    run_s = [p["run_s"] for p in plat]
    ratio = statistics.median(base) / statistics.median(window)
    e2e = statistics.median(base) / statistics.median(run_s)
    overhead = (statistics.median(window) - statistics.median(base)) * args.concurrency / args.cases
    print(f"baseline (gather + semaphore): {median_spread(base, '.3f')} s")
    print(f"platform case window:          {median_spread(window, '.3f')} s")
    print(f"platform run (start → end):    {median_spread(run_s, '.3f')} s")
    print(
        f"workers ready:                 {median_spread([p['workers_s'] for p in plat], '.3f')} s"
    )
    print(f"end-to-end ratio (baseline / run): {e2e:.3f}; {load_average()}")
    print(
        f"agent_tests_ratio={ratio:.3f} per_case_overhead_ms={overhead * 1e3:.2f} "
        f"demo_pass_rate={demo:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
