"""Agent tests over HTTP on real Postgres and Redis: suite versions (content-addressed, refused
with the case and field named, nothing stored), targets whose secrets never come back, test
runs queued with their suite pinned, results, JUnit and comparisons, and tenancy (404)."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import psycopg
import pytest

from tests.factories import Api, Tenant
from tests.integration.test_predict import TEXTS, register, tracked_artifact, trained  # noqa: F401

SUITE = """
threshold: 0.5
cases:
  - id: greet
    input: "echo:hello"
    tags: [smoke]
    assert:
      - {type: contains, value: hello}
  - id: json-out
    input: 'json:{"a": 1}'
    weight: 2
    assert:
      - {type: json, schema: {type: object, required: [a]}}
"""
SECRET = "sk-live-" + "7" * 24


async def project(api: Api, tenant: Tenant) -> str:
    r = await api.as_(tenant).post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def add_suite(
    api: Api, tenant: Tenant, pid: str, content: str = SUITE, name: str = "smoke"
) -> Any:
    return await api.as_(tenant).post(
        f"/api/v1/projects/{pid}/agent-suites", json={"name": name, "content": content}
    )


class TestSuites:
    async def test_versions_are_content_addressed(self, api: Api, org_a: Tenant) -> None:
        pid = await project(api, org_a)
        first = await add_suite(api, org_a, pid)
        assert first.status_code == 201, first.text
        assert first.json()["version"] == 1 and first.json()["cases"] == 2
        # The same suite, formatted differently (JSON this time): the same version.
        import yaml

        again = await add_suite(api, org_a, pid, json.dumps(yaml.safe_load(SUITE)))
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        changed = await add_suite(api, org_a, pid, SUITE.replace("hello}", "hello world}"))
        assert changed.status_code == 201 and changed.json()["version"] == 2
        detail = await api.as_(org_a).get(
            f"/api/v1/agent-suites/{first.json()['suite_id']}/versions/1"
        )
        assert detail.status_code == 200
        assert detail.json()["document"]["cases"][0]["id"] == "greet"

    async def test_an_invalid_suite_names_case_and_field_and_stores_nothing(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        pid = await project(api, org_a)
        bad = SUITE.replace("{type: contains, value: hello}", "{type: contains, valu: hello}")
        r = await add_suite(api, org_a, pid, bad, name="broken")
        assert r.status_code == 422, r.text
        body = r.json()
        text = json.dumps(body)
        assert "greet" in text and "valu" in text
        row = owner_conn.execute(
            "SELECT count(*) FROM agent_suites WHERE project_id = %s", (pid,)
        ).fetchone()
        assert row is not None and row[0] == 0

    @pytest.mark.parametrize(
        "content",
        ["cases: []", "- just a list", "threshold: 2\ncases: [{id: a, input: x}]", "{{{"],
    )
    async def test_malformed_documents_are_422(self, api: Api, org_a: Tenant, content: str) -> None:
        pid = await project(api, org_a)
        r = await add_suite(api, org_a, pid, content)
        assert r.status_code == 422, r.text

    async def test_viewer_cannot_add_and_another_tenant_gets_404(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        pid = await project(api, org_a)
        suite = (await add_suite(api, org_a, pid)).json()
        viewer = await api.member(org_a, role="viewer")
        assert (await add_suite(api, viewer, pid)).status_code == 403
        assert (
            await api.as_(viewer).get(f"/api/v1/agent-suites/{suite['suite_id']}")
        ).status_code == 200
        assert (await add_suite(api, org_b, pid)).status_code == 404
        other = api.as_(org_b)
        assert (await other.get(f"/api/v1/agent-suites/{suite['suite_id']}")).status_code == 404
        assert (
            await other.get(f"/api/v1/agent-suites/{suite['suite_id']}/versions/1")
        ).status_code == 404
        assert (await other.delete(f"/api/v1/agent-suites/{suite['suite_id']}")).status_code == 404
        assert (await other.get(f"/api/v1/projects/{pid}/agent-suites")).status_code == 404


class TestTargets:
    async def test_secret_headers_are_sealed_and_never_returned(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        pid = await project(api, org_a)
        owner = api.as_(org_a)
        r = await owner.post(
            f"/api/v1/projects/{pid}/agent-targets",
            json={
                "name": "support-bot",
                "kind": "http",
                "url": "https://agent.example.com/chat",
                "headers": {"X-Team": "support"},
                "secret_headers": {"Authorization": f"Bearer {SECRET}"},
            },
        )
        assert r.status_code == 201, r.text
        assert SECRET not in r.text
        assert r.json()["secret_header_names"] == ["Authorization"]
        target_id = r.json()["id"]
        for url in (
            f"/api/v1/agent-targets/{target_id}",
            f"/api/v1/projects/{pid}/agent-targets",
        ):
            got = await owner.get(url)
            assert got.status_code == 200 and SECRET not in got.text
        row = owner_conn.execute(
            "SELECT secret_headers::text FROM agent_targets WHERE id = %s", (target_id,)
        ).fetchone()
        assert row is not None and row[0] and SECRET not in row[0]
        audit = owner_conn.execute(
            "SELECT count(*) FROM audit_events WHERE summary::text LIKE %s", (f"%{SECRET}%",)
        ).fetchone()
        assert audit is not None and audit[0] == 0
        assert (
            await api.as_(await api.member(org_a, role="viewer")).get(
                f"/api/v1/agent-targets/{target_id}"
            )
        ).status_code == 200

    async def test_bad_targets_are_refused(self, api: Api, org_a: Tenant, org_b: Tenant) -> None:
        pid = await project(api, org_a)
        owner = api.as_(org_a)
        base = {"name": "t", "kind": "http", "url": "https://a.example.com"}
        for bad in (
            {**base, "url": "file:///etc/passwd"},
            {**base, "url": "gopher://a.example.com"},
            {**base, "url": "https://a.example.com@169.254.169.254/"},  # host behind userinfo
            {**base, "url": "http://[::1]/"},
            {**base, "kind": "openai"},  # no model
            {**base, "headers": {"Bad Name": "1"}},
            {**base, "secret_headers": {"X-Key": "a\r\nInjected: 1"}},
            {**base, "template": {"output": "x", "tokens": 0}},  # not coerced to "0"
        ):
            r = await owner.post(f"/api/v1/projects/{pid}/agent-targets", json=bad)
            assert r.status_code == 422, (bad, r.text)
        # A header named both plain and secret is sent with its secret value only.
        made = await owner.post(
            f"/api/v1/projects/{pid}/agent-targets",
            json={
                **base,
                "headers": {"X-Key": "plain", "X-Team": "a"},
                "secret_headers": {"x-key": "s"},
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["headers"] == {"X-Team": "a"}
        assert made.json()["secret_header_names"] == ["x-key"]
        assert (
            await owner.post(f"/api/v1/projects/{pid}/agent-targets", json=base)
        ).status_code == 409
        assert (
            await api.as_(org_b).get(f"/api/v1/agent-targets/{made.json()['id']}")
        ).status_code == 404


class TestRuns:
    async def test_a_run_is_queued_with_its_suite_pinned(self, api: Api, org_a: Tenant) -> None:
        pid = await project(api, org_a)
        await add_suite(api, org_a, pid)
        owner = api.as_(org_a)
        r = await owner.post(
            f"/api/v1/projects/{pid}/agent-test-runs",
            json={"suite": "smoke", "target": "copilot", "concurrency": 4},
        )
        assert r.status_code == 202, r.text
        run = r.json()
        assert run["status"] == "queued" and run["kind"] == "agent_test"
        assert run["suite"] == "smoke" and run["suite_version"] == 1 and run["target"] == "copilot"
        assert run["summary"] is None
        got = await owner.get(f"/api/v1/agent-test-runs/{run['id']}")
        assert got.status_code == 200
        listed = await owner.get(f"/api/v1/projects/{pid}/agent-test-runs")
        assert [x["id"] for x in listed.json()["items"]] == [run["id"]]
        await owner.post(f"/api/v1/runs/{run['id']}/cancel")

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"suite": "smoke", "target": "somewhere"}, 422),
            ({"suite": "nope", "target": "copilot"}, 404),
            ({"suite": "smoke", "version": 9, "target": "copilot"}, 404),
            ({"suite": "smoke", "target": "model:missing@production"}, 404),
            ({"suite": "smoke", "target": "target:missing"}, 404),
            ({"suite": "smoke", "target": "copilot", "concurrency": 0}, 422),
        ],
    )
    async def test_bad_runs_are_refused(
        self, api: Api, org_a: Tenant, body: dict[str, Any], status: int
    ) -> None:
        pid = await project(api, org_a)
        await add_suite(api, org_a, pid)
        r = await api.as_(org_a).post(f"/api/v1/projects/{pid}/agent-test-runs", json=body)
        assert r.status_code == status, r.text

    async def test_results_junit_and_a_planted_regression(
        self, api: Api, org_a: Tenant, org_b: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        pid = await project(api, org_a)
        await add_suite(api, org_a, pid)
        owner = api.as_(org_a)
        runs = []
        for _ in range(2):
            r = await owner.post(
                f"/api/v1/projects/{pid}/agent-test-runs",
                json={"suite": "smoke", "target": "copilot"},
            )
            runs.append(r.json()["id"])
            await owner.post(f"/api/v1/runs/{r.json()['id']}/cancel")
        # What two runs' jobs would have stored: "greet" passes in the first, fails in the second.
        org = owner_conn.execute(
            "SELECT organization_id FROM runs WHERE id = %s", (runs[0],)
        ).fetchone()
        assert org is not None
        for run_id, greet in ((runs[0], "passed"), (runs[1], "failed")):
            for position, (case, status, score) in enumerate(
                [("greet", greet, 1.0 if greet == "passed" else 0.0), ("json-out", "passed", 1.0)]
            ):
                owner_conn.execute(
                    "INSERT INTO agent_case_results (id, organization_id, run_id, position,"
                    " case_id, status, score, weight, tags, output, assertions, latency_ms,"
                    " attempts)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, 1, '[\"smoke\"]', %s, %s, 12.5, 1)",
                    (
                        uuid.uuid4(),
                        org[0],
                        run_id,
                        position,
                        case,
                        status,
                        score,
                        "<b>]]>\x01 out</b>",
                        json.dumps(
                            [
                                {
                                    "type": "contains",
                                    "passed": status == "passed",
                                    "score": score,
                                    "detail": "expected 'hello'",
                                    "data": {},
                                }
                            ]
                        ),
                    ),
                )
        owner_conn.commit()
        failed = await owner.get(f"/api/v1/agent-test-runs/{runs[1]}/results?status=failed")
        assert [x["case_id"] for x in failed.json()["items"]] == ["greet"]
        comparison = await owner.get(f"/api/v1/agent-test-runs/{runs[1]}/compare/{runs[0]}")
        assert comparison.status_code == 200, comparison.text
        assert [c["case_id"] for c in comparison.json()["regressions"]] == ["greet"]
        assert comparison.json()["fixes"] == []
        junit = await owner.get(f"/api/v1/agent-test-runs/{runs[1]}/junit")
        assert junit.status_code == 200 and junit.headers["content-type"].startswith(
            "application/xml"
        )
        tree = ET.fromstring(junit.text)
        names = [c.get("name") for c in tree.iter("testcase")]
        assert names == ["greet", "json-out"]
        assert len(list(tree.iter("failure"))) == 1
        other = api.as_(org_b)
        for url in (
            f"/api/v1/agent-test-runs/{runs[1]}",
            f"/api/v1/agent-test-runs/{runs[1]}/results",
            f"/api/v1/agent-test-runs/{runs[1]}/junit",
            f"/api/v1/agent-test-runs/{runs[1]}/compare/{runs[0]}",
        ):
            assert (await other.get(url)).status_code == 404, url


class TestModelTarget:
    async def test_an_alias_is_pinned_and_the_model_answers_its_label(
        self,
        api: Api,
        org_a: Tenant,
        trained: bytes,  # noqa: F811 - the fixture imported above
        owner_conn: psycopg.Connection,
    ) -> None:
        """``model:NAME@ALIAS`` resolves to a version when the run is queued (moving the alias
        later does not change the run), and the model target answers the label it predicts."""
        from raylane.core.agenttests.runner import run_case
        from raylane.core.agenttests.suite import parse
        from raylane.core.agenttests.targets import ModelTarget
        from raylane.core.training.tracking import ModelRef
        from raylane.serve.models import LocalModels

        name = f"topics-{uuid.uuid4().hex[:8]}"
        version = await register(api, org_a, name, await tracked_artifact(api, org_a, trained))
        owner = api.as_(org_a)
        r = await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": version})
        assert r.status_code == 200, r.text
        pid = await project(api, org_a)
        expect = "assert: [{type: equals, value: sports}]"
        suite = (
            "cases:\n"
            f"  - {{id: sport, input: {json.dumps(TEXTS[0])}, {expect}}}\n"
            f"  - {{id: food, input: {json.dumps(TEXTS[1])}, {expect}}}\n"
        )
        assert (await add_suite(api, org_a, pid, suite, name="topics")).status_code == 201
        r = await owner.post(
            f"/api/v1/projects/{pid}/agent-test-runs",
            json={"suite": "topics", "target": f"model:{name}@production"},
        )
        assert r.status_code == 202, r.text
        await owner.post(f"/api/v1/runs/{r.json()['id']}/cancel")
        row = owner_conn.execute(
            "SELECT params FROM runs WHERE id = %s", (r.json()["id"],)
        ).fetchone()
        assert row is not None
        spec = row[0]["target_spec"]
        assert spec["kind"] == "model" and spec["version"] == str(version)
        ref = ModelRef(spec["version_id"], spec["artifact_key"], spec["name"], spec["version"])
        target = ModelTarget(LocalModels().predict, ref)
        document = parse(suite)
        results = [
            await run_case(document, case, target, scorers=None)  # type: ignore[arg-type]
            for case in document.cases
        ]
        assert [(x.case_id, x.status, x.output) for x in results] == [
            ("sport", "passed", "sports"),
            ("food", "failed", "cooking"),
        ]
