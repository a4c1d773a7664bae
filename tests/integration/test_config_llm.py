"""A copilot configuration that picks its own LLM (an OpenAI-compatible endpoint), through
HTTP: a canary version answering with another model than the stable one, its key sent as a
bearer token and never shown, and the egress rule applied when the version is stored and again
on every request the copilot sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from raylane.testing.stub_agent import StubAgent
from tests.factories import Api, Tenant
from tests.integration.test_endpoints import _fresh, _project, _split

KEY = "sk-config-llm-5f2b9c"
ANSWER = "The launch is in May."


@pytest.fixture(scope="module")
def stub() -> Iterator[StubAgent]:
    agent = StubAgent()
    agent.start()
    yield agent
    agent.stop()


@pytest.fixture
def private_llm_allowed(app: Any) -> Iterator[Any]:
    """The operator's setting for an LLM on this machine (the stub listens on 127.0.0.1)."""
    copilot = app.state.platform.settings.copilot
    copilot.allow_private_llm = True
    yield copilot
    copilot.allow_private_llm = False


def _reread(app: Any) -> None:
    if getattr(app.state, "endpoint_router", None) is not None:  # made on the first request
        _fresh(app.state.endpoint_router)


def _own_llm(stub: StubAgent, **extra: Any) -> dict[str, Any]:
    return {
        "backend": "openai",
        "base_url": f"{stub.url}/v1",
        "model": f"says:{ANSWER}",
        "api_key": KEY,
    } | extra


class TestOwnLlm:
    async def test_a_canary_answers_with_its_own_llm(
        self, api: Api, org_a: Tenant, app: Any, stub: StubAgent, private_llm_allowed: Any
    ) -> None:
        project = await _project(api, org_a)
        owner = api.as_(org_a)
        url = f"/api/v1/projects/{project}/copilot-configs"
        stable = {"answer_mode": "extractive", "max_tokens": 32}
        r = await owner.post(url, json={"name": "bot", "spec": stable})
        assert r.status_code == 201, r.text
        canary = {"max_tokens": 32, "llm": _own_llm(stub)}
        created = await owner.post(url, json={"name": "bot", "spec": canary})
        assert created.status_code == 201, created.text
        shown = created.json()["spec"]["llm"]
        assert shown["api_key_set"] is True and shown["model"] == f"says:{ANSWER}"
        # The same key again is the same version; another key is a new one.
        again = await owner.post(url, json={"name": "bot", "spec": canary})
        assert again.status_code == 200 and again.json()["version"] == 2
        config_id = created.json()["config_id"]
        listed = await owner.get(f"/api/v1/copilot-configs/{config_id}/versions")
        one = await owner.get(f"/api/v1/copilot-configs/{config_id}/versions/2")
        audit = await owner.get("/api/v1/audit/events", params={"limit": 200})
        for response in (created, again, listed, one, audit):
            assert response.status_code == 200 or response is created, response.text
            assert KEY not in response.text and "api_key_sealed" not in response.text

        r = await owner.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "bot", "kind": "copilot", "subject": "bot", "stable": "1"},
        )
        assert r.status_code == 201, r.text
        endpoint_id = r.json()["id"]
        await _split(api, org_a, endpoint_id, canary=2, weight=100)
        _reread(app)
        before = stub.requests["/v1/chat/completions"]
        ask = {"messages": [{"role": "user", "content": "When is the launch?"}], "stream": True}
        r = await owner.post(f"/api/v1/endpoints/{endpoint_id}/chat", json=ask)
        assert r.status_code == 200, r.text
        assert r.headers["X-Raylane-Version"] == "2"
        tokens = [line for line in r.text.splitlines() if line.startswith("event: token")]
        assert len(tokens) > 1  # streamed from the endpoint, word by word
        assert "May." in r.text and "event: done" in r.text
        assert stub.requests["/v1/chat/completions"] == before + 1
        assert stub.last_headers["/v1/chat/completions"]["authorization"] == f"Bearer {KEY}"
        sent = stub.last_bodies["/v1/chat/completions"]
        assert sent["model"] == f"says:{ANSWER}" and sent["stream"] is True
        assert "When is the launch?" in sent["messages"][-1]["content"]

        # The stable version still answers with the platform's (extractive) copilot.
        await _split(api, org_a, endpoint_id, canary=2, weight=0)
        _reread(app)
        r = await owner.post(f"/api/v1/endpoints/{endpoint_id}/chat", json=ask)
        assert r.status_code == 200 and r.headers["X-Raylane-Version"] == "1"
        assert stub.requests["/v1/chat/completions"] == before + 1

    async def test_egress_is_checked_when_stored_and_when_sent(
        self, api: Api, org_a: Tenant, app: Any, stub: StubAgent, private_llm_allowed: Any
    ) -> None:
        project = await _project(api, org_a)
        owner = api.as_(org_a)
        url = f"/api/v1/projects/{project}/copilot-configs"
        metadata = {
            "name": "m",
            "spec": {"llm": _own_llm(stub, base_url="http://169.254.169.254/v1")},
        }
        r = await owner.post(url, json=metadata)  # link-local: refused even when private is on
        assert r.status_code == 422 and "spec.llm.base_url" in r.text, r.text
        r = await owner.post(url, json={"name": "ok", "spec": {"llm": _own_llm(stub)}})
        assert r.status_code == 201, r.text

        private_llm_allowed.allow_private_llm = False
        r = await owner.post(url, json={"name": "loopback", "spec": {"llm": _own_llm(stub)}})
        assert r.status_code == 422 and "loopback" in r.text, r.text
        listed = (await owner.get(url)).json()["items"]
        assert [c["name"] for c in listed] == ["ok"]  # nothing of the refused ones stored

        # Stored while allowed, sent after the operator turned it off: refused at the request.
        r = await owner.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "ok", "kind": "copilot", "subject": "ok", "stable": "1"},
        )
        assert r.status_code == 201, r.text
        before = stub.requests["/v1/chat/completions"]
        ask = {"messages": [{"role": "user", "content": "When is the launch?"}]}
        r = await owner.post(f"/api/v1/endpoints/{r.json()['id']}/chat", json=ask)
        assert r.status_code == 503, r.text
        assert "127.0.0.1" not in r.text and str(stub.url) not in r.text
        assert stub.requests["/v1/chat/completions"] == before
