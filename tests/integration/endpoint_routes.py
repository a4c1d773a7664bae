"""Requests and resources for the endpoint, copilot-configuration and rollout routes in the
generated RBAC matrix and the cross-tenant sweep (``route_table`` merges them).

One endpoint cannot take both kinds of traffic, one with an active rollout cannot be deleted, and
a rollout ended by ``promote`` can no longer be aborted, so ``SEPARATE`` names the routes that
get a resource of their own: the chat route a copilot endpoint, the endpoint's own route one
that no rollout holds, the abort route a second running rollout.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories import Api, Tenant
from tests.integration.training_routes import _classifier

_LATEST: dict[str, str] = {}
_QUICK = {"steps": [10, 100], "interval_s": 3600}

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/projects/{project_id}/copilot-configs"): lambda: {
        "name": f"c-{uuid.uuid4().hex[:8]}",
        "spec": {"top_k": 2},
    },
    ("POST", "/api/v1/projects/{project_id}/endpoints"): lambda: {
        "name": f"e-{uuid.uuid4().hex[:8]}",
        "kind": "model",
        "subject": _LATEST["model_name"],
        "stable": "1",
    },
    ("PUT", "/api/v1/endpoints/{endpoint_id}/split"): lambda: {"canary": 2, "weight": 10},
    ("POST", "/api/v1/endpoints/{endpoint_id}/predict"): lambda: {"inputs": ["refund please"]},
    ("POST", "/api/v1/endpoints/{endpoint_id}/chat"): lambda: {
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 2,
    },
    ("POST", "/api/v1/endpoints/{endpoint_id}/rollouts"): lambda: {
        "canary": 2,
        "policy": _QUICK,
    },
    ("POST", "/api/v1/rollouts/{rollout_id}/pause"): lambda: None,
    ("POST", "/api/v1/rollouts/{rollout_id}/resume"): lambda: None,
    ("POST", "/api/v1/rollouts/{rollout_id}/promote"): lambda: None,
    ("POST", "/api/v1/rollouts/{rollout_id}/abort"): lambda: None,
}
# Route -> {path parameter: the resource key that fills it instead}.
SEPARATE: dict[str, dict[str, str]] = {
    # Deleted last: an endpoint the matrix's own rollout start does not hold.
    "/api/v1/endpoints/{endpoint_id}": {"endpoint_id": "plain_endpoint_id"},
    "/api/v1/endpoints/{endpoint_id}/chat": {"endpoint_id": "copilot_endpoint_id"},
    "/api/v1/rollouts/{rollout_id}/abort": {"rollout_id": "abort_rollout_id"},
}


async def endpoint_resources(
    api: Api, tenant: Tenant, project_id: str, model_name: str, experiment_run_id: str
) -> dict[str, str]:
    """Version 2 of ``model_name``; a copilot configuration; a model endpoint with no rollout
    (for the matrix's own start), two with a running rollout, and a copilot endpoint."""
    owner = api.as_(tenant)
    await owner.post(
        f"/api/v1/experiment-runs/{experiment_run_id}/artifacts",
        files={"file": ("head2.json", _classifier())},
        data={"path": "model/head2.json"},
    )
    r = await owner.post(
        f"/api/v1/models/{model_name}/versions",
        json={"experiment_run_id": experiment_run_id, "artifact_path": "model/head2.json"},
    )
    assert r.status_code == 201, r.text
    config = await owner.post(
        f"/api/v1/projects/{project_id}/copilot-configs",
        json={"name": "support", "spec": {"top_k": 2}},
    )
    assert config.status_code == 201, config.text

    async def endpoint(kind: str, subject: str) -> str:
        r = await owner.post(
            f"/api/v1/projects/{project_id}/endpoints",
            json={
                "name": f"e-{uuid.uuid4().hex[:8]}",
                "kind": kind,
                "subject": subject,
                "stable": "1",
            },
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def rollout() -> str:
        r = await owner.post(
            f"/api/v1/endpoints/{await endpoint('model', model_name)}/rollouts",
            json={"canary": 2, "policy": _QUICK},
        )
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    ids = {
        "config_id": config.json()["config_id"],
        "endpoint_id": await endpoint("model", model_name),
        "plain_endpoint_id": await endpoint("model", model_name),
        "copilot_endpoint_id": await endpoint("copilot", "support"),
        "rollout_id": await rollout(),
        "abort_rollout_id": await rollout(),
    }
    _LATEST.clear()
    _LATEST.update(model_name=model_name)
    return ids
