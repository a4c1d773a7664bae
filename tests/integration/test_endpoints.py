"""Endpoints through HTTP with the in-process router: copilot configurations (content-addressed
versions), endpoints over two model versions, the observed split, sticky keys, the version
header, per-version windows in Redis, the manual split refused during a rollout, another
tenant's endpoint a 404 on every route, bad input a 422."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

import psycopg
import pytest

from raylane.core.endpoints import stats
from raylane.core.training.classifier import Classifier, Head, save_head
from raylane.infra import embeddings
from raylane.serve.router import local_router
from raylane.serve.routes.predict import predictor
from tests.factories import Api, Tenant
from tests.integration.test_predict import register, tracked_artifact


def _head(seed: int) -> bytes:
    """A servable (untrained) head: enough to tell versions apart by the header."""
    import torch

    torch.manual_seed(seed)
    return save_head(Classifier(head=Head(384, 2), labels=["a", "b"], encoder=embeddings.BUILTIN))


async def _project(api: Api, tenant: Tenant) -> str:
    r = await api.as_(tenant).post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _model(api: Api, tenant: Tenant) -> str:
    """A registered model with versions 1 and 2."""
    name = f"ep-{uuid.uuid4().hex[:8]}"
    for seed in (1, 2):
        await register(api, tenant, name, await tracked_artifact(api, tenant, _head(seed)))
    return name


@pytest.fixture
async def model_endpoint(api: Api, org_a: Tenant) -> dict[str, Any]:
    project = await _project(api, org_a)
    name = await _model(api, org_a)
    r = await api.as_(org_a).post(
        f"/api/v1/projects/{project}/endpoints",
        json={"name": "topics", "kind": "model", "subject": name, "stable": "1"},
    )
    assert r.status_code == 201, r.text
    return dict(r.json()) | {"model": name}


@pytest.fixture
def seeded_router(app: Any) -> Any:
    """The app's in-process router with a seeded draw: the split test is exact, not flaky."""
    before = getattr(app.state, "endpoint_router", None)

    class _Req:
        pass

    request: Any = _Req()
    request.app = app
    app.state.endpoint_router = local_router(
        app.state.platform, predictor(request), draw=random.Random(7).random
    )
    yield app.state.endpoint_router
    app.state.endpoint_router = before


async def _split(
    api: Api, tenant: Tenant, endpoint_id: str, canary: int | None, weight: int
) -> Any:
    r = await api.as_(tenant).put(
        f"/api/v1/endpoints/{endpoint_id}/split", json={"canary": canary, "weight": weight}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _fresh(router: Any) -> None:
    router._cache.clear()  # the next request reads the split just set (no 1 s wait)


class TestCopilotConfigs:
    async def test_versions_are_content_addressed(self, api: Api, org_a: Tenant) -> None:
        project = await _project(api, org_a)
        owner = api.as_(org_a)
        url = f"/api/v1/projects/{project}/copilot-configs"
        spec = {"system_prompt": "Answer in French.", "top_k": 3, "answer_mode": "extractive"}
        first = await owner.post(url, json={"name": "support", "spec": spec})
        assert first.status_code == 201, first.text
        again = await owner.post(
            url, json={"name": "support", "spec": dict(reversed(spec.items()))}
        )
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        second = await owner.post(url, json={"name": "support", "spec": spec | {"top_k": 5}})
        assert second.status_code == 201 and second.json()["version"] == 2
        configs = (await owner.get(url)).json()["items"]
        assert [(c["name"], c["latest_version"]) for c in configs] == [("support", 2)]
        config_id = configs[0]["id"]
        versions = (await owner.get(f"/api/v1/copilot-configs/{config_id}/versions")).json()
        assert [v["version"] for v in versions["items"]] == [2, 1]
        one = (await owner.get(f"/api/v1/copilot-configs/{config_id}/versions/1")).json()
        assert one["spec"]["system_prompt"] == "Answer in French." and one["spec"]["top_k"] == 3

    async def test_a_guardrail_policy_takes_the_guardrail_permission(
        self, api: Api, org_a: Tenant
    ) -> None:
        """A configuration's policy overrides the project's, so a developer (endpoint:write, no
        guardrail:write) may store a configuration but not one that carries a policy."""
        project = await _project(api, org_a)
        url = f"/api/v1/projects/{project}/copilot-configs"
        weaker = {"guardrail_policy": {"detectors": {"injection": {"enabled": False}}}}
        developer = api.as_(await api.member(org_a, role="developer"))
        r = await developer.post(url, json={"name": "bot", "spec": weaker})
        assert r.status_code == 403, r.text
        assert (await developer.post(url, json={"name": "bot", "spec": {}})).status_code == 201
        admin = api.as_(await api.member(org_a, role="admin"))
        assert (await admin.post(url, json={"name": "bot", "spec": weaker})).status_code == 201

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "x", "spec": {"top_k": 0}},
            {"name": "x", "spec": {"top_k": 21}},
            {"name": "x", "spec": {"answer_mode": "poetic"}},
            {"name": "x", "spec": {"temperature": 3}},
            {
                "name": "x",
                "spec": {"guardrail_policy": {"detectors": {"injection": {"action": "redact"}}}},
            },
            {"name": "x", "spec": {"unknown": 1}},
            {"name": "has:colon", "spec": {}},
            {"name": "x"},
        ],
    )
    async def test_bad_specs_are_422(self, api: Api, org_a: Tenant, body: Any) -> None:
        project = await _project(api, org_a)
        r = await api.as_(org_a).post(f"/api/v1/projects/{project}/copilot-configs", json=body)
        assert r.status_code == 422, r.text


class TestEndpoints:
    async def test_create_pins_the_stable_version_and_alias(self, api: Api, org_a: Tenant) -> None:
        project = await _project(api, org_a)
        name = await _model(api, org_a)
        owner = api.as_(org_a)
        await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 2})
        r = await owner.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "e", "kind": "model", "subject": name, "stable": "production"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["stable_label"] == "2" and r.json()["canary_ref"] is None
        dup = await owner.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "e", "kind": "model", "subject": name, "stable": "1"},
        )
        assert dup.status_code == 409
        missing = await owner.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "f", "kind": "model", "subject": name, "stable": "9"},
        )
        assert missing.status_code == 404

    async def test_version_header_and_kind_mismatch(
        self, api: Api, org_a: Tenant, model_endpoint: dict[str, Any]
    ) -> None:
        owner = api.as_(org_a)
        r = await owner.post(
            f"/api/v1/endpoints/{model_endpoint['id']}/predict", json={"inputs": ["hello"]}
        )
        assert r.status_code == 200, r.text
        assert r.headers["X-Raylane-Version"] == "1"
        assert r.headers["X-Raylane-Variant"] == "stable"
        assert r.json()["version"] == "1" and len(r.json()["predictions"]) == 1
        chat = await owner.post(
            f"/api/v1/endpoints/{model_endpoint['id']}/chat",
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 409, chat.text

    async def test_split_of_2000_requests_at_10_percent(
        self, api: Api, org_a: Tenant, model_endpoint: dict[str, Any], seeded_router: Any
    ) -> None:
        endpoint_id = model_endpoint["id"]
        split = await _split(api, org_a, endpoint_id, canary=2, weight=10)
        assert split["canary_label"] == "2" and split["generation"] == 1
        _fresh(seeded_router)
        owner = api.as_(org_a)
        seen = {"1": 0, "2": 0}
        gate = asyncio.Semaphore(16)

        async def one() -> None:
            # Each request draws once from the seeded draw, whatever order they run in.
            async with gate:
                r = await owner.post(
                    f"/api/v1/endpoints/{endpoint_id}/predict", json={"inputs": ["x"]}
                )
            assert r.status_code == 200, r.text
            assert r.json()["version"] == r.headers["X-Raylane-Version"]
            seen[r.headers["X-Raylane-Version"]] += 1

        await asyncio.gather(*(one() for _ in range(2000)))
        share = seen["2"] / 2000
        assert 0.08 <= share <= 0.12, seen

    async def test_sticky_keys_stay_on_one_version(
        self, api: Api, org_a: Tenant, model_endpoint: dict[str, Any], app: Any
    ) -> None:
        endpoint_id = model_endpoint["id"]
        await _split(api, org_a, endpoint_id, canary=2, weight=50)
        if getattr(app.state, "endpoint_router", None) is not None:
            _fresh(app.state.endpoint_router)
        owner = api.as_(org_a)
        url = f"/api/v1/endpoints/{endpoint_id}/predict"
        first: dict[str, str] = {}
        for round_ in range(3):
            for i in range(40):
                r = await owner.post(url, json={"inputs": ["x"], "key": f"user-{i}"})
                assert r.status_code == 200, r.text
                version = r.headers["X-Raylane-Version"]
                assert first.setdefault(f"user-{i}", version) == version, (round_, i)
        assert set(first.values()) == {"1", "2"}  # different keys reach both versions

    async def test_sticky_header_wins_over_body_key(self, api: Api, org_a: Tenant) -> None:
        project = await _project(api, org_a)
        name = await _model(api, org_a)
        owner = api.as_(org_a)
        r = await owner.post(
            f"/api/v1/projects/{project}/endpoints",
            json={
                "name": "sticky",
                "kind": "model",
                "subject": name,
                "stable": "1",
                "sticky_header": "X-User-Id",
            },
        )
        assert r.status_code == 201, r.text
        endpoint_id = r.json()["id"]
        await _split(api, org_a, endpoint_id, canary=2, weight=50)
        url = f"/api/v1/endpoints/{endpoint_id}/predict"
        by_header = {}
        for i in range(30):
            versions = {
                (
                    await owner.request(
                        "POST",
                        url,
                        json={"inputs": ["x"], "key": f"body-{j}"},
                        headers={"X-User-Id": f"u-{i}"},
                    )
                ).headers["X-Raylane-Version"]
                for j in range(3)
            }
            assert len(versions) == 1, i  # the header decides, whatever the body's key
            by_header[i] = versions.pop()
        assert set(by_header.values()) == {"1", "2"}

    async def test_per_version_windows(
        self, api: Api, org_a: Tenant, model_endpoint: dict[str, Any], seeded_router: Any
    ) -> None:
        endpoint_id = model_endpoint["id"]
        await _split(api, org_a, endpoint_id, canary=2, weight=50)
        _fresh(seeded_router)
        owner = api.as_(org_a)
        since = time.time()
        seen = {"1": 0, "2": 0}
        for _ in range(30):
            r = await owner.post(f"/api/v1/endpoints/{endpoint_id}/predict", json={"inputs": ["x"]})
            seen[r.headers["X-Raylane-Version"]] += 1
        await seeded_router.flush()  # counts are written every 0.25 s: now, for the test
        r = await owner.get(f"/api/v1/endpoints/{endpoint_id}/metrics")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["stable"]["version"] == "1" and body["canary"]["version"] == "2"
        assert body["stable"]["requests"] == seen["1"]
        assert body["canary"]["requests"] == seen["2"]
        assert body["stable"]["errors"] == 0 and body["stable"]["p95_ms"] > 0
        # The same figures straight from the windows a rollout's analysis reads.
        kv = app_redis(seeded_router)
        window = await stats.window(
            kv, endpoint_id=endpoint_id, version="2", start=since - 5, end=time.time() + 5
        )
        assert window.requests == seen["2"] and window.error_rate == 0.0
        # And per endpoint and version in Prometheus, on the API's /metrics.
        text = (await api.http.get("/metrics")).text
        for version in ("1", "2"):
            series = (
                f'raylane_endpoint_requests_total{{endpoint="{endpoint_id}",outcome="ok",'
                f'version="{version}"}} {float(seen[version])}'
            )
            assert series in text, series
        assert f'raylane_endpoint_request_seconds_count{{endpoint="{endpoint_id}"' in text

    async def test_manual_split_refused_while_a_rollout_is_active(
        self,
        api: Api,
        org_a: Tenant,
        model_endpoint: dict[str, Any],
        owner_conn: psycopg.Connection,
    ) -> None:
        endpoint_id = model_endpoint["id"]
        rollout = uuid.uuid4()
        owner_conn.execute(
            "INSERT INTO rollouts (id, organization_id, endpoint_id, project_id, status,"
            " canary_ref, canary_label, stable_ref, stable_label, policy, step,"
            " failed_analyses, history) VALUES (%s, %s, %s, %s, 'running', %s, '2', %s, '1',"
            " %s, 0, 0, '[]')",
            (
                rollout,
                org_a.organization_id,
                endpoint_id,
                model_endpoint["project_id"],
                uuid.uuid4(),
                model_endpoint["stable_ref"],
                json.dumps({"steps": [10]}),
            ),
        )
        owner = api.as_(org_a)
        r = await owner.put(
            f"/api/v1/endpoints/{endpoint_id}/split", json={"canary": 2, "weight": 20}
        )
        assert r.status_code == 409, r.text
        assert (await owner.delete(f"/api/v1/endpoints/{endpoint_id}")).status_code == 409
        owner_conn.execute("UPDATE rollouts SET status = 'aborted' WHERE id = %s", (rollout,))
        r = await owner.put(
            f"/api/v1/endpoints/{endpoint_id}/split", json={"canary": 2, "weight": 20}
        )
        assert r.status_code == 200, r.text

    @pytest.mark.parametrize(
        "body",
        [
            {"canary": 2, "weight": 101},
            {"canary": 2, "weight": -1},
            {"canary": None, "weight": 10},
            {"canary": 1, "weight": 10},  # the stable version
            {"canary": "two", "weight": 10},
            {"canary": 2},
        ],
    )
    async def test_bad_splits_are_422(
        self, api: Api, org_a: Tenant, model_endpoint: dict[str, Any], body: Any
    ) -> None:
        r = await api.as_(org_a).put(f"/api/v1/endpoints/{model_endpoint['id']}/split", json=body)
        assert r.status_code == 422, r.text
        after = (await api.as_(org_a).get(f"/api/v1/endpoints/{model_endpoint['id']}")).json()
        assert after["generation"] == 0 and after["canary_ref"] is None  # nothing written

    async def test_bad_endpoints_and_requests_are_422(
        self, api: Api, org_a: Tenant, model_endpoint: dict[str, Any]
    ) -> None:
        owner = api.as_(org_a)
        project = model_endpoint["project_id"]
        for body in [
            {"name": "x", "kind": "pipeline", "subject": "m", "stable": "1"},
            {"name": "x", "kind": "model", "subject": "m", "stable": "Prod!"},
            {"name": "x", "kind": "model", "subject": "m", "stable": "1", "sticky_header": "a b"},
            {"name": "x", "kind": "model", "subject": "m"},
        ]:
            r = await owner.post(f"/api/v1/projects/{project}/endpoints", json=body)
            assert r.status_code == 422, (body, r.text)
        url = f"/api/v1/endpoints/{model_endpoint['id']}"
        for body in [{"inputs": []}, {"inputs": ["x"], "key": ""}, {"inputs": "x"}]:
            assert (await owner.post(f"{url}/predict", json=body)).status_code == 422, body
        r = await owner.get(
            f"{url}/metrics",
            params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
        assert r.status_code == 422, r.text

    async def test_another_tenants_endpoint_is_404_everywhere(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        model_endpoint: dict[str, Any],
    ) -> None:
        owner = api.as_(org_a)
        project = model_endpoint["project_id"]
        config = await owner.post(
            f"/api/v1/projects/{project}/copilot-configs", json={"name": "c", "spec": {}}
        )
        config_id = config.json()["config_id"]
        endpoint = f"/api/v1/endpoints/{model_endpoint['id']}"
        other = api.as_(org_b)
        calls = [
            ("GET", endpoint, None),
            ("DELETE", endpoint, None),
            ("PUT", f"{endpoint}/split", {"canary": 2, "weight": 10}),
            ("GET", f"{endpoint}/metrics", None),
            ("POST", f"{endpoint}/predict", {"inputs": ["x"]}),
            ("POST", f"{endpoint}/chat", {"messages": [{"role": "user", "content": "hi"}]}),
            ("GET", f"/api/v1/projects/{project}/endpoints", None),
            (
                "POST",
                f"/api/v1/projects/{project}/endpoints",
                {"name": "n", "kind": "model", "subject": model_endpoint["model"], "stable": "1"},
            ),
            ("GET", f"/api/v1/projects/{project}/copilot-configs", None),
            ("POST", f"/api/v1/projects/{project}/copilot-configs", {"name": "c", "spec": {}}),
            ("GET", f"/api/v1/copilot-configs/{config_id}", None),
            ("GET", f"/api/v1/copilot-configs/{config_id}/versions", None),
            ("GET", f"/api/v1/copilot-configs/{config_id}/versions/1", None),
        ]
        for method, url, body in calls:
            r = await other.request(method, url, json=body)
            assert r.status_code == 404, (method, url, r.status_code, r.text)
            assert r.json()["error"] == "not_found"
        # org_a's endpoint is untouched and still answers.
        r = await owner.post(f"{endpoint}/predict", json={"inputs": ["x"]})
        assert r.status_code == 200 and r.headers["X-Raylane-Version"] == "1"
        # A model of org_b's own name space: org_a's model name means nothing there.
        project_b = await _project(api, org_b)
        r = await other.post(
            f"/api/v1/projects/{project_b}/endpoints",
            json={"name": "n", "kind": "model", "subject": model_endpoint["model"], "stable": "1"},
        )
        assert r.status_code == 404


def app_redis(router: Any) -> Any:
    return router._kv


class TestCopilotEndpoints:
    async def test_configuration_versions_answer_with_their_settings(
        self, api: Api, org_a: Tenant, app: Any
    ) -> None:
        """Two configuration versions behind one endpoint: the canary's guardrail policy denies
        a keyword the stable one allows, so a sticky key shows which one answered."""
        project = await _project(api, org_a)
        owner = api.as_(org_a)
        url = f"/api/v1/projects/{project}/copilot-configs"
        base = {"answer_mode": "extractive", "max_tokens": 16}
        assert (await owner.post(url, json={"name": "bot", "spec": base})).status_code == 201
        strict = base | {"guardrail_policy": {"denied_keywords": ["pineapple"]}}
        assert (await owner.post(url, json={"name": "bot", "spec": strict})).status_code == 201
        r = await owner.post(
            f"/api/v1/projects/{project}/endpoints",
            json={"name": "bot", "kind": "copilot", "subject": "bot", "stable": "1"},
        )
        assert r.status_code == 201, r.text
        endpoint_id = r.json()["id"]
        chat = f"/api/v1/endpoints/{endpoint_id}/chat"
        ask = {"messages": [{"role": "user", "content": "Do you like pineapple?"}]}
        r = await owner.post(chat, json=ask)
        assert r.status_code == 200, r.text
        assert r.headers["X-Raylane-Version"] == "1"
        assert (
            await owner.post(f"/api/v1/endpoints/{endpoint_id}/predict", json={"inputs": ["x"]})
        ).status_code == 409
        await _split(api, org_a, endpoint_id, canary=2, weight=100)
        if getattr(app.state, "endpoint_router", None) is not None:
            _fresh(app.state.endpoint_router)
        r = await owner.post(chat, json=ask)
        assert r.headers.get("X-Raylane-Version") in (None, "2")
        assert r.status_code == 422 and r.json()["error"] == "guardrail_blocked", r.text
        r = await owner.post(chat, json=ask | {"stream": True})
        assert r.status_code == 200 and r.headers["X-Raylane-Version"] == "2"
        assert r.headers["X-Raylane-Variant"] == "canary"
        assert "event: blocked" in r.text and "event: route" not in r.text
        await app.state.endpoint_router.flush()
        metrics = (await owner.get(f"/api/v1/endpoints/{endpoint_id}/metrics")).json()
        assert metrics["canary"]["blocked"] == 2 and metrics["canary"]["block_rate"] == 1.0
        assert metrics["stable"]["requests"] == 1 and metrics["stable"]["blocked"] == 0


SUITE = """
cases:
  - id: greet
    input: "hello"
    assert:
      - {type: contains, value: hello}
"""


class TestConfigTarget:
    async def test_a_suite_runs_against_a_configuration_version(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        project = await _project(api, org_a)
        owner = api.as_(org_a)
        spec = {"system_prompt": "Be brief.", "answer_mode": "generative", "top_k": 2}
        r = await owner.post(
            f"/api/v1/projects/{project}/copilot-configs", json={"name": "bot", "spec": spec}
        )
        assert r.status_code == 201, r.text
        r = await owner.post(
            f"/api/v1/projects/{project}/agent-suites", json={"name": "smoke", "content": SUITE}
        )
        assert r.status_code == 201, r.text
        runs = f"/api/v1/projects/{project}/agent-test-runs"
        r = await owner.post(runs, json={"suite": "smoke", "target": "copilot-config:bot:1"})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        [(params,)] = owner_conn.execute("SELECT params FROM runs WHERE id = %s", (run_id,))
        target = params["target_spec"]
        assert target["kind"] == "copilot" and target["config_version"] == 1
        assert target["config_spec"]["system_prompt"] == "Be brief."
        await owner.post(f"/api/v1/runs/{run_id}/cancel")
        for bad, status in [
            ("copilot-config:bot:2", 404),
            ("copilot-config:nope:1", 404),
            ("copilot-config:bot", 422),
        ]:
            r = await owner.post(runs, json={"suite": "smoke", "target": bad})
            assert r.status_code == status, (bad, r.text)


class TestPromote:
    async def test_the_orchestrator_promotes_and_the_alias_moves(
        self, api: Api, org_a: Tenant, model_endpoint: dict[str, Any], app: Any
    ) -> None:
        """``promote`` as the rollout orchestrator calls it (no actor): the canary becomes
        stable, the model's production alias moves to it, both audited as the system."""
        from raylane.core.endpoints.service import endpoint_service

        owner = api.as_(org_a)
        endpoint_id = uuid.UUID(model_endpoint["id"])
        org = uuid.UUID(org_a.organization_id)
        await owner.put(
            f"/api/v1/models/{model_endpoint['model']}/aliases/production", json={"version": 1}
        )
        async with app.state.platform.db.session(organization_id=org) as session:
            endpoint = await endpoint_service.get(session, endpoint_id=endpoint_id)
            ref, label = await endpoint_service.resolve_version(
                session, endpoint=endpoint, version=2
            )
            await endpoint_service.set_split(
                session,
                actor=None,
                endpoint=endpoint,
                canary_ref=ref,
                canary_label=label,
                weight=25,
                reason={"step": 1, "figures": {"canary": {"error_rate": 0.0}}},
            )
            await endpoint_service.promote(
                session, actor=None, endpoint=endpoint, reason={"step": "final"}
            )
        after = (await owner.get(f"/api/v1/endpoints/{endpoint_id}")).json()
        assert after["stable_label"] == "2" and after["stable_ref"] == str(ref)
        assert after["canary_ref"] is None and after["canary_weight"] == 0
        assert after["generation"] == 2
        model = (await owner.get(f"/api/v1/models/{model_endpoint['model']}")).json()
        assert model["aliases"]["production"] == 2
        events = (await owner.get("/api/v1/audit/events", params={"limit": 200})).json()["items"]
        actions = {e["action"]: e for e in events}
        assert {"endpoint.split", "endpoint.promote", "model.alias.set"} <= set(actions)
        moved = [e for e in events if e["action"] == "model.alias.set" and e["actor_id"] is None]
        assert moved and moved[0]["summary"]["before"]["version"] == 1
        split = actions["endpoint.split"]
        assert split["summary"]["after"]["reason"]["step"] == 1
        with pytest.raises(Exception, match="no canary"):
            async with app.state.platform.db.session(organization_id=org) as session:
                endpoint = await endpoint_service.get(session, endpoint_id=endpoint_id)
                await endpoint_service.promote(session, actor=None, endpoint=endpoint, reason={})
