"""Agent tests for real: suites run as Ray jobs against a stub HTTP agent with known verdicts
(a failing case of each assertion kind, timeouts and 500s as case errors, a flaky agent
retried), the LLM judge on the local model, the CLI's CI gate and JUnit file, a planted
regression found by compare, and the demo project's copilot suite on the default model."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from raylane.testing.stub_agent import StubAgent
from tests.e2e.conftest import Stack
from tests.e2e.corpus import http_client, new_tenant, wait_run

DEMO_SUITE = Path(__file__).parents[2] / "raylane" / "data" / "suites" / "demo.yaml"

KNOWN = """
threshold: 0.5
defaults: {timeout_s: 20, retries: 2}
cases:
  - {id: equals-pass, input: "echo:exact", assert: [{type: equals, value: exact}]}
  - {id: equals-fail, input: "echo:exact", assert: [{type: equals, value: other}]}
  - id: contains-pass
    input: "echo:The launch is in May"
    assert: [{type: contains, values: [june, may], mode: any}]
  - {id: contains-fail, input: "echo:The launch is in May", assert: [{type: contains, value: June}]}
  - id: not-contains-fail
    input: "echo:a secret word"
    assert: [{type: not-contains, value: secret}]
  - {id: regex-pass, input: "echo:order 12345", assert: [{type: regex, pattern: '\\d{5}'}]}
  - {id: regex-fail, input: "echo:order 12345", assert: [{type: regex, pattern: '^\\d+$'}]}
  - id: json-pass
    input: 'json:{"a": 1}'
    assert: [{type: json, schema: {type: object, required: [a]}}]
  - {id: json-fail, input: "echo:not json", assert: [{type: json}]}
  - id: similar-pass
    input: "echo:The launch is planned for May."
    assert: [{type: similar, reference: "The launch happens in May.", threshold: 0.6}]
  - id: similar-fail
    input: "echo:The launch is planned for May."
    assert: [{type: similar, reference: "Bananas are a yellow fruit.", threshold: 0.6}]
  - id: judge
    input: "echo:Paris is the capital of France."
    assert: [{type: llm-judge, rubric: "The answer names the capital of France.", threshold: 0}]
  - {id: latency-pass, input: "echo:x", assert: [{type: latency, max_ms: 10000}]}
  - {id: latency-fail, input: "sleep:0.4", assert: [{type: latency, max_ms: 100}]}
  - id: tokens-fail
    input: "echo:one two three four five six seven"
    assert: [{type: tokens, max: 2}]
  - id: tools-pass
    input: 'tool:search {"q": "ray", "n": 3}'
    assert: [{type: tool-calls, calls: [{name: search, arguments: {q: {regex: "^ra"}}}]}]
  - id: tools-fail
    input: 'tool:search {"q": "ray"}'
    assert: [{type: tool-calls, calls: [{name: lookup}]}]
  - {id: citations-fail, input: "echo:x", assert: [{type: citations, min: 1}]}
  - {id: guardrail-fail, input: "echo:x", assert: [{type: guardrail, input_blocked: true}]}
  - id: multi-turn
    messages:
      - {role: user, content: "echo:first"}
      - {role: assistant, content: "first"}
      - {role: user, content: "echo:second {{word}}"}
    vars: {word: turn}
    assert: [{type: equals, value: second turn}]
  - {id: timeout, input: "sleep:5", timeout_s: 1, assert: [{type: contains, value: slept}]}
  - {id: http-500, input: "status:500", assert: [{type: contains, value: ok}]}
  - {id: flaky, input: "flaky:k-RUN", tags: [retry], assert: [{type: contains, value: ok}]}
"""
EXPECTED = {
    "equals-pass": "passed",
    "equals-fail": "failed",
    "contains-pass": "passed",
    "contains-fail": "failed",
    "not-contains-fail": "failed",
    "regex-pass": "passed",
    "regex-fail": "failed",
    "json-pass": "passed",
    "json-fail": "failed",
    "similar-pass": "passed",
    "similar-fail": "failed",
    "judge": "passed",
    "latency-pass": "passed",
    "latency-fail": "failed",
    "tokens-fail": "failed",
    "tools-pass": "passed",
    "tools-fail": "failed",
    "citations-fail": "failed",
    "guardrail-fail": "failed",
    "multi-turn": "passed",
    "timeout": "error",
    "http-500": "error",
    "flaky": "passed",
}
TEMPLATE = {
    "body": {"messages": "{{messages}}"},
    "output": "output",
    "tool_calls": "tool_calls",
    "tokens": "usage.output_tokens",
}


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with StubAgent(delay_s=0.01) as url:
        yield url


@pytest.fixture(scope="module")
def tenant(stack: Stack, stub: str) -> dict[str, Any]:
    key = new_tenant(stack)
    with http_client(stack, key) as http:
        pid = http.post("/api/v1/projects", json={"name": "agents"}).json()["id"]
        for name, body in (
            ("stub", TEMPLATE),
            ("broken", {**TEMPLATE, "body": {"input": "echo:broken"}}),
        ):
            r = http.post(
                f"/api/v1/projects/{pid}/agent-targets",
                json={
                    "name": name,
                    "kind": "http",
                    "url": f"{stub}/agent",
                    "template": body,
                    "secret_headers": {"Authorization": "Bearer stub-secret-1234567890"},
                },
            )
            assert r.status_code == 201, r.text
    return {"key": key, "project": pid}


def run_suite(
    http: httpx.Client, pid: str, suite: str, content: str, target: str
) -> dict[str, Any]:
    r = http.post(f"/api/v1/projects/{pid}/agent-suites", json={"name": suite, "content": content})
    assert r.status_code in (200, 201), r.text
    r = http.post(
        f"/api/v1/projects/{pid}/agent-test-runs",
        json={"suite": suite, "target": target, "concurrency": 8},
    )
    assert r.status_code == 202, r.text
    run = wait_run(http, r.json()["id"])
    if run["status"] != "succeeded":
        logs = http.get(f"/api/v1/runs/{run['id']}/logs").json()["logs"]
        raise AssertionError(f"{run['status']}: {run['error']}\n{logs[-4000:]}")
    return dict(http.get(f"/api/v1/agent-test-runs/{run['id']}").json())


def results(http: httpx.Client, run_id: str) -> dict[str, dict[str, Any]]:
    items = http.get(f"/api/v1/agent-test-runs/{run_id}/results", params={"limit": 200}).json()
    return {r["case_id"]: r for r in items["items"]}


def test_known_verdicts_errors_and_retries(stack: Stack, tenant: dict[str, Any], stub: str) -> None:
    content = KNOWN.replace("k-RUN", f"k-{uuid.uuid4().hex[:8]}")
    with http_client(stack, tenant["key"]) as http:
        run = run_suite(http, tenant["project"], "known", content, "target:stub")
        found = results(http, run["id"])
    assert {case: r["status"] for case, r in found.items()} == EXPECTED
    assert "timed out" in found["timeout"]["error"]
    assert "500" in found["http-500"]["error"]
    assert found["flaky"]["attempts"] == 2
    judge = found["judge"]["assertions"][0]
    assert 0.0 <= judge["score"] <= 1.0 and judge["data"].get("reasoning")
    summary = run["summary"]
    assert summary["cases"] == len(EXPECTED) and summary["errors"] == 2
    assert summary["passed"] == sum(v == "passed" for v in EXPECTED.values())
    assert summary["by_tag"]["retry"]["passed"] == 1
    assert run["progress"]["cases_done"] == len(EXPECTED)
    assert "stub-secret" not in json.dumps(found)


def test_compare_finds_a_regression(stack: Stack, tenant: dict[str, Any]) -> None:
    suite = """
cases:
  - {id: hello, input: "echo:hello", assert: [{type: contains, value: hello}]}
  - {id: always, input: "echo:x", assert: [{type: latency, max_ms: 60000}]}
"""
    with http_client(stack, tenant["key"]) as http:
        good = run_suite(http, tenant["project"], "regress", suite, "target:stub")
        bad = run_suite(http, tenant["project"], "regress", suite, "target:broken")
        diff = http.get(f"/api/v1/agent-test-runs/{bad['id']}/compare/{good['id']}").json()
    assert [c["case_id"] for c in diff["regressions"]] == ["hello"]
    assert diff["fixes"] == [] and diff["pass_rate_delta"] == pytest.approx(-0.5)


def test_cli_gates_ci_and_writes_junit(
    stack: Stack, tenant: dict[str, Any], tmp_path: Path
) -> None:
    suite = tmp_path / "ci-smoke.yaml"
    suite.write_text(
        "cases:\n"
        "  - {id: good, input: 'echo:yes', assert: [{type: equals, value: 'yes'}]}\n"
        "  - {id: bad, input: 'echo:yes', assert: [{type: equals, value: 'no'}]}\n"
    )
    junit = tmp_path / "out.xml"
    args = ["--url", stack.url, "--api-key", tenant["key"]]
    common = ["test", "run", str(suite), "--target", "target:stub", "--project", tenant["project"]]
    failing = stack.cli(*args, *common, "--fail-under", "0.9", "--junit", str(junit), check=False)
    assert failing.returncode == 1, failing.stderr
    cases = ET.parse(junit).getroot()
    assert sorted(c.get("name") or "" for c in cases.iter("testcase")) == ["bad", "good"]
    assert len(list(cases.iter("failure"))) == 1
    passing = stack.cli(*args, *common, "--fail-under", "0.5", check=False)
    assert passing.returncode == 0, passing.stderr
    # Unchanged, the suite is still version 1; the listing shows it.
    added = stack.cli(*args, "test", "add", str(suite), "-p", tenant["project"], "-o", "json")
    assert json.loads(added.stdout)["version"] == 1
    listed = stack.cli(*args, "test", "suites", "-p", tenant["project"], "-o", "json")
    assert "ci-smoke" in [s["name"] for s in json.loads(listed.stdout)]


def test_another_tenant_sees_nothing(stack: Stack, tenant: dict[str, Any]) -> None:
    with http_client(stack, tenant["key"]) as http:
        runs = http.get(f"/api/v1/projects/{tenant['project']}/agent-test-runs").json()["items"]
    assert runs
    with http_client(stack, new_tenant(stack)) as other:
        assert other.get(f"/api/v1/agent-test-runs/{runs[0]['id']}").status_code == 404
        assert other.get(f"/api/v1/agent-test-runs/{runs[0]['id']}/results").status_code == 404
        r = other.post(
            f"/api/v1/projects/{tenant['project']}/agent-test-runs",
            json={"suite": "known", "target": "target:stub"},
        )
        assert r.status_code == 404


def test_the_copilot_passes_the_demo_suite(stack: Stack, tmp_path: Path) -> None:
    """The shipped demo suite, on the first-start demo project, with the default local model."""
    with http_client(stack, stack.admin_key) as http:
        ingests = http.get("/api/v1/runs", params={"kind": "ingest"}).json()["items"]
        demo = min(ingests, key=lambda r: r["created_at"])
        assert wait_run(http, demo["id"])["status"] == "succeeded"
    junit = tmp_path / "demo.xml"
    out = stack.cli(
        "test",
        "run",
        str(DEMO_SUITE),
        "--target",
        "copilot:demo",
        "--fail-under",
        "0.8",
        "--junit",
        str(junit),
        check=False,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(list(ET.parse(junit).getroot().iter("testcase"))) >= 50
