"""Endpoints through the Serve app: the EndpointRouter deployment splits a model endpoint's
requests between two versions served by ModelServer (sticky keys stay put, the header names the
version, the router's per-version counts reach the metrics route), a copilot endpoint answers
with its configuration versions' settings through the Copilot deployment, the CLI and SDK see
the same, and another tenant's endpoint is a 404."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from raylane.testing.stub_agent import StubAgent
from tests.e2e.conftest import Stack
from tests.e2e.corpus import http_client, new_tenant, wait_run

ARTIFACT = "model/model.safetensors"


def _classifier(seed: int) -> bytes:
    """A servable model artifact (an untrained head over MiniLM)."""
    import torch

    from raylane.core.training.classifier import Classifier, Head, save_head
    from raylane.infra.embeddings import BUILTIN

    torch.manual_seed(seed)
    return save_head(Classifier(head=Head(384, 2), labels=["billing", "bug"], encoder=BUILTIN))


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> dict[str, Any]:
    """A tenant with a model of two versions and an endpoint serving version 1."""
    key = new_tenant(stack)
    with http_client(stack, key) as http:
        project = http.post("/api/v1/projects", json={"name": "endpoints"}).json()["id"]
        r = http.post(f"/api/v1/projects/{project}/experiments", json={"name": "nb"})
        assert r.status_code == 201, r.text
        experiment = r.json()["id"]
        name = f"tickets-{uuid.uuid4().hex[:6]}"
        assert http.post("/api/v1/models", json={"name": name}).status_code == 201
        for seed in (1, 2):
            run = http.post(f"/api/v1/experiments/{experiment}/runs", json={}).json()["id"]
            r = http.post(
                f"/api/v1/experiment-runs/{run}/artifacts",
                files={"file": ("model.safetensors", _classifier(seed))},
                data={"path": ARTIFACT},
            )
            assert r.status_code == 201, r.text
            r = http.post(
                f"/api/v1/models/{name}/versions",
                json={"experiment_run_id": run, "artifact_path": ARTIFACT},
            )
            assert r.status_code == 201, r.text
        r = http.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "tickets", "kind": "model", "subject": name, "stable": "1"},
        )
        assert r.status_code == 201, r.text
    return {"key": key, "project": project, "model": name, "endpoint": r.json()["id"]}


def _predict(http: httpx.Client, endpoint: str, key: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"inputs": ["my invoice is wrong"]}
    if key is not None:
        body["key"] = key
    r = http.post(f"/api/v1/endpoints/{endpoint}/predict", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == r.headers["X-Raylane-Version"]
    assert r.json()["variant"] == r.headers["X-Raylane-Variant"]
    return r


def _until_canary_seen(http: httpx.Client, endpoint: str, timeout: float = 30) -> None:
    """Routers cache a split for a second: poll until one answers from the canary."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _predict(http, endpoint).headers["X-Raylane-Variant"] == "canary":
            return
    raise AssertionError("the canary never answered")


def test_a_split_through_the_router_deployment(stack: Stack, tenant: dict[str, Any]) -> None:
    endpoint = tenant["endpoint"]
    with http_client(stack, tenant["key"]) as http:
        first = _predict(http, endpoint)
        assert first.headers["X-Raylane-Version"] == "1"
        assert first.headers["X-Raylane-Variant"] == "stable"
        r = http.put(f"/api/v1/endpoints/{endpoint}/split", json={"canary": 2, "weight": 50})
        assert r.status_code == 200, r.text
        _until_canary_seen(http, endpoint)
        since = time.time()
        # Sticky keys: each key's three calls land on one version; different keys reach both.
        by_key: dict[str, str] = {}
        for _ in range(3):
            for i in range(20):
                version = _predict(http, endpoint, key=f"user-{i}").headers["X-Raylane-Version"]
                assert by_key.setdefault(f"user-{i}", version) == version, i
        assert set(by_key.values()) == {"1", "2"}
        # The router replica's per-version counts (Redis, written every 0.25 s) reach the
        # API's metrics route.
        params = {"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - 5))}
        deadline = time.monotonic() + 30
        while True:
            r = http.get(f"/api/v1/endpoints/{endpoint}/metrics", params=params)
            assert r.status_code == 200, r.text
            metrics = r.json()
            counted = metrics["stable"]["requests"] + metrics["canary"]["requests"]
            if counted >= 60 or time.monotonic() > deadline:
                break
            time.sleep(0.25)  # the router's next write
        assert counted >= 60, metrics
        assert metrics["stable"]["errors"] == 0 and metrics["canary"]["errors"] == 0
        assert metrics["canary"]["p95_ms"] is not None


def test_the_cli_and_sdk_see_the_endpoint(stack: Stack, tenant: dict[str, Any]) -> None:
    from raylane.client import Client

    args = ["--url", stack.url, "--api-key", tenant["key"]]
    listed = json.loads(
        stack.cli(*args, "endpoints", "list", tenant["project"], "--output", "json").stdout
    )
    assert [e["id"] for e in listed] == [tenant["endpoint"]]
    out = stack.cli(
        *args,
        "endpoints",
        "predict",
        tenant["endpoint"],
        "my invoice",
        "--key",
        "u-1",
        "-o",
        "json",
    )
    assert json.loads(out.stdout)["version"] in {"1", "2"}
    with Client(stack.url, tenant["key"]) as client:
        answer = client.endpoints.predict(tenant["endpoint"], ["my invoice"], key="u-1")
        assert answer.version == json.loads(out.stdout)["version"]  # the same key, the same version
        assert client.endpoints.get(tenant["endpoint"]).canary_label == "2"


def test_a_copilot_endpoint_answers_with_its_configuration(
    stack: Stack, tenant: dict[str, Any]
) -> None:
    """Version 2 of the configuration denies a keyword that version 1 allows: with all traffic
    on the canary, the Copilot deployment blocks the question, so the configuration reached it
    through the router."""
    with http_client(stack, tenant["key"]) as http:
        project = tenant["project"]
        url = f"/api/v1/projects/{project}/copilot-configs"
        base = {"answer_mode": "extractive", "max_tokens": 16}
        assert http.post(url, json={"name": "bot", "spec": base}).status_code == 201
        strict = base | {"guardrail_policy": {"denied_keywords": ["pineapple"]}}
        assert http.post(url, json={"name": "bot", "spec": strict}).status_code == 201
        r = http.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "bot", "kind": "copilot", "subject": "bot", "stable": "1"},
        )
        assert r.status_code == 201, r.text
        endpoint = r.json()["id"]
        chat = f"/api/v1/endpoints/{endpoint}/chat"
        ask = {"messages": [{"role": "user", "content": "Do you like pineapple?"}]}
        r = http.post(chat, json=ask)
        assert r.status_code == 200, r.text
        assert r.headers["X-Raylane-Version"] == "1" and r.json()["version"] == "1"
        r = http.put(f"/api/v1/endpoints/{endpoint}/split", json={"canary": 2, "weight": 100})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while True:  # the router's cached split is at most a second old
            r = http.post(chat, json=ask | {"stream": True})
            assert r.status_code == 200, r.text
            if r.headers["X-Raylane-Version"] == "2" or time.monotonic() > deadline:
                break
        assert r.headers["X-Raylane-Version"] == "2"
        assert r.headers["X-Raylane-Variant"] == "canary"
        assert "event: blocked" in r.text
        assert (
            http.post(f"/api/v1/endpoints/{endpoint}/predict", json={"inputs": ["x"]}).status_code
            == 409
        )


OWN_LLM_SUITE = """
cases:
  - {id: launch, input: "When is the launch?", assert: [{type: contains, value: May}]}
"""


def test_a_configuration_answers_with_its_own_llm(stack: Stack, tenant: dict[str, Any]) -> None:
    """A configuration naming its own OpenAI-compatible LLM (a stub on this machine) answers
    through the router and the Copilot deployment with that model, its key sent as a bearer
    token; an agent-test run against the configuration version reaches the same LLM (the job
    reads the version's sealed key, which no read shows)."""
    key = "sk-own-llm-e2e-93c1"
    with StubAgent() as stub_url, http_client(stack, tenant["key"]) as http:
        project = tenant["project"]
        llm = {
            "backend": "openai",
            "base_url": f"{stub_url}/v1",
            "model": "says:The launch is in May.",
            "api_key": key,
        }
        url = f"/api/v1/projects/{project}/copilot-configs"
        r = http.post(url, json={"name": "own", "spec": {"max_tokens": 32, "llm": llm}})
        assert r.status_code == 201, r.text
        assert key not in r.text and r.json()["spec"]["llm"]["api_key_set"] is True
        r = http.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "own", "kind": "copilot", "subject": "own", "stable": "1"},
        )
        assert r.status_code == 201, r.text
        ask = {"messages": [{"role": "user", "content": "When is the launch?"}]}
        r = http.post(f"/api/v1/endpoints/{r.json()['id']}/chat", json=ask)
        assert r.status_code == 200, r.text
        assert r.json()["answer"] == "The launch is in May.", r.text

        suite = {"name": "own-llm", "content": OWN_LLM_SUITE}
        assert http.post(f"/api/v1/projects/{project}/agent-suites", json=suite).status_code in (
            200,
            201,
        )
        r = http.post(
            f"/api/v1/projects/{project}/agent-test-runs",
            json={"suite": "own-llm", "target": "copilot-config:own:1"},
        )
        assert r.status_code == 202, r.text
        assert key not in r.text and "api_key_sealed" not in r.text
        run = wait_run(http, r.json()["id"], timeout=180)
        assert run["status"] == "succeeded", run
        shown = http.get(f"/api/v1/agent-test-runs/{run['id']}")
        assert shown.json()["summary"]["passed"] == 1, shown.text
        assert key not in shown.text and "api_key_sealed" not in shown.text


def test_another_tenant_gets_404(stack: Stack, tenant: dict[str, Any]) -> None:
    other = new_tenant(stack)
    endpoint = tenant["endpoint"]
    with http_client(stack, other) as http:
        for method, path, body in [
            ("GET", f"/api/v1/endpoints/{endpoint}", None),
            ("POST", f"/api/v1/endpoints/{endpoint}/predict", {"inputs": ["x"]}),
            ("PUT", f"/api/v1/endpoints/{endpoint}/split", {"canary": 2, "weight": 10}),
            ("GET", f"/api/v1/endpoints/{endpoint}/metrics", None),
        ]:
            r = http.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
    with http_client(stack, tenant["key"]) as http:
        assert _predict(http, endpoint).status_code == 200  # still there, still answering
