"""Requests and resources for the agent-test routes in the generated RBAC matrix and the
cross-tenant sweep (``route_table`` merges them)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories import Api, Tenant

SUITE = "cases:\n  - {id: a, input: hello, assert: [{type: contains, value: hello}]}\n"

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/projects/{project_id}/agent-suites"): lambda: {
        "name": f"s-{uuid.uuid4().hex[:8]}",
        "content": SUITE,
    },
    ("POST", "/api/v1/projects/{project_id}/agent-targets"): lambda: {
        "name": f"t-{uuid.uuid4().hex[:8]}",
        "kind": "http",
        "url": "https://agent.example.com/chat",
    },
    # The suite made by ``agent_test_resources`` (every project gets one named "smoke").
    ("POST", "/api/v1/projects/{project_id}/agent-test-runs"): lambda: {
        "suite": "smoke",
        "target": "copilot",
    },
}


async def agent_test_resources(api: Api, tenant: Tenant, project_id: str) -> dict[str, str]:
    """A suite (version 1), a stored target and two queued test runs in ``project_id``."""
    owner = api.as_(tenant)
    suite = await owner.post(
        f"/api/v1/projects/{project_id}/agent-suites", json={"name": "smoke", "content": SUITE}
    )
    assert suite.status_code == 201, suite.text
    target = await owner.post(
        f"/api/v1/projects/{project_id}/agent-targets",
        json={"name": "bot", "kind": "http", "url": "https://agent.example.com/chat"},
    )
    assert target.status_code == 201, target.text
    runs = []
    for _ in range(2):
        r = await owner.post(
            f"/api/v1/projects/{project_id}/agent-test-runs",
            json={"suite": "smoke", "target": "copilot"},
        )
        assert r.status_code == 202, r.text
        runs.append(r.json()["id"])
    return {
        "suite_id": suite.json()["suite_id"],
        "version": "1",
        "target_id": target.json()["id"],
        "test_run_id": runs[0],
        "base_test_run_id": runs[1],
    }
