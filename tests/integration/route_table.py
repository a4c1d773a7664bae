"""Every authenticated API route with its permission, a valid request for each, and one resource
of each kind to fill path parameters: shared by the RBAC matrix and the cross-tenant sweep."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from raylane.core.rbac import Permission
from raylane.serve.app import ROUTERS
from tests.factories import Api, Tenant
from tests.integration import agent_test_routes, endpoint_routes, training_routes

# A valid body for every mutating route; a route missing here fails
# test_rbac.py::test_every_mutating_route_has_a_request_in_the_table.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/organizations"): lambda: {
        "name": "X",
        "slug": f"x-{uuid.uuid4().hex[:8]}",
        "owner_email": f"o-{uuid.uuid4().hex[:6]}@example.com",
    },
    ("PATCH", "/api/v1/organizations/{organization_id}"): lambda: {"name": "Renamed"},
    ("POST", "/api/v1/users"): lambda: {
        "email": f"u-{uuid.uuid4().hex[:6]}@example.com",
        "role": "viewer",
    },
    ("PATCH", "/api/v1/users/{user_id}"): lambda: {"name": "Someone"},
    ("POST", "/api/v1/api-keys"): lambda: {"name": "k"},
    ("POST", "/api/v1/projects"): lambda: {"name": f"p-{uuid.uuid4().hex[:8]}"},
    ("PATCH", "/api/v1/projects/{project_id}"): lambda: {"description": "d"},
    ("PUT", "/api/v1/feature-flags/{key}"): lambda: {"enabled": True},
    ("POST", "/api/v1/projects/{project_id}/collections"): lambda: {
        "name": f"c-{uuid.uuid4().hex[:8]}"
    },
    ("POST", "/api/v1/collections/{collection_id}/documents/text"): lambda: {
        "documents": [{"name": f"d-{uuid.uuid4().hex[:6]}.txt", "text": "hello world"}]
    },
    ("POST", "/api/v1/collections/{collection_id}/search"): lambda: {
        "vector": [0.1] * 384,
        "top_k": 1,
    },
    ("POST", "/api/v1/collections/{collection_id}/ingest"): lambda: None,
    ("POST", "/api/v1/runs/{run_id}/cancel"): lambda: None,
    ("POST", "/api/v1/runs/{run_id}/replay"): lambda: None,
    ("PUT", "/api/v1/guardrails/policy"): lambda: {"detectors": {"email": {"action": "redact"}}},
    ("PUT", "/api/v1/projects/{project_id}/guardrails/policy"): lambda: {"max_input_tokens": 4000},
    ("POST", "/api/v1/guardrails/check"): lambda: {"text": "mail me at ada@example.com"},
    ("POST", "/api/v1/projects/{project_id}/copilot/chat"): lambda: {
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 2,
    },
    ("POST", "/v1/chat/completions"): lambda: {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 2,
    },
}
# Multipart routes: request keyword arguments instead of a JSON body.
MULTIPART: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/collections/{collection_id}/documents"): lambda: {
        "files": [("files", (f"f-{uuid.uuid4().hex[:6]}.txt", b"some text", "text/plain"))]
    },
}

BODIES.update(training_routes.BODIES)
BODIES.update(agent_test_routes.BODIES)
BODIES.update(endpoint_routes.BODIES)
MULTIPART.update(training_routes.MULTIPART)


def request_kwargs(method: str, path: str) -> dict[str, Any]:
    if (method, path) in MULTIPART:
        return MULTIPART[(method, path)]()  # type: ignore[no-any-return]
    body = BODIES.get((method, path))
    return {"json": body() if body else None}


def routes() -> list[tuple[str, str, Permission | None]]:
    """(method, path template, required permission) for every authenticated API route."""
    out = []
    for module in ROUTERS:
        for route in module.router.routes:
            perm = None
            for dep in route.dependencies:
                perm = getattr(dep.dependency, "permission", perm)
            for method in sorted(route.methods - {"HEAD"}):
                if route.path.startswith(("/api/v1", "/v1/")) and route.path != "/api/v1/me":
                    out.append((method, route.path, perm))
    return out


def success_statuses() -> dict[tuple[str, str], int]:
    """The status each route documents for success (its OpenAPI ``status_code``, else 200)."""
    return {
        (method, route.path): route.status_code or 200
        for module in ROUTERS
        for route in module.router.routes
        for method in route.methods
    }


ROUTES = routes()
SUCCESS = success_statuses()


async def _dead_letter(api: Api, tenant: Tenant, run_id: str) -> None:
    """End a run as its last attempt failing would (no Ray here), through the app's own tenant
    session, as the reconciler does."""
    transport: Any = api.http._transport  # the in-process app (ASGITransport)
    async with transport.app.state.platform.db.session(
        organization_id=uuid.UUID(tenant.organization_id)
    ) as session:
        await session.execute(
            text(
                "UPDATE runs SET status = 'dead_lettered', attempts = max_attempts,"
                " finished_at = now() WHERE id = :id"
            ),
            {"id": run_id},
        )


async def resources(api: Api, tenant: Tenant) -> dict[str, str]:
    """One resource of each kind in ``tenant``, for path parameters."""
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    user = (
        await owner.post(
            "/api/v1/users",
            json={"email": f"m-{uuid.uuid4().hex[:8]}@example.com", "role": "viewer"},
        )
    ).json()
    key = (await owner.post("/api/v1/api-keys", json={"name": "fixture"})).json()
    flag = f"flag-{uuid.uuid4().hex[:8]}"
    assert (
        await owner.put(f"/api/v1/feature-flags/{flag}", json={"enabled": True})
    ).status_code == 200
    collection = (
        await owner.post(f"/api/v1/projects/{project['id']}/collections", json={"name": "docs"})
    ).json()
    document = (
        await owner.post(
            f"/api/v1/collections/{collection['id']}/documents/text",
            json={"documents": [{"name": "a.txt", "text": "alpha"}]},
        )
    ).json()[0]["document"]
    # The run is another collection's, so the matrix's own ingest finds none in progress.
    queued = (
        await owner.post(f"/api/v1/projects/{project['id']}/collections", json={"name": "runs"})
    ).json()
    await owner.post(
        f"/api/v1/collections/{queued['id']}/documents/text",
        json={"documents": [{"name": "b.txt", "text": "beta"}]},
    )
    run = (await owner.post(f"/api/v1/collections/{queued['id']}/ingest")).json()
    await _dead_letter(api, tenant, run["id"])  # so replay (and cancel: a no-op) can succeed
    answer = await owner.post(
        f"/api/v1/projects/{project['id']}/copilot/chat",
        json={"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1},
    )
    assert answer.status_code == 200, answer.text
    training = await training_routes.training_resources(api, tenant, project["id"])
    training |= await agent_test_routes.agent_test_resources(api, tenant, project["id"])
    training |= await endpoint_routes.endpoint_resources(
        api, tenant, project["id"], training["model_name"], training["experiment_run_id"]
    )
    return training | {
        "conversation_id": answer.json()["conversation_id"],
        "collection_id": collection["id"],
        "document_id": document["id"],
        "run_id": run["id"],
        "organization_id": tenant.organization_id,
        "project_id": project["id"],
        "user_id": user["id"],
        "key_id": key["id"],
        "key": flag,
    }


def parent_depth(path: str) -> int:
    """Deleting a project removes its collections, and a collection its documents."""
    return {"/api/v1/collections/{collection_id}": 1, "/api/v1/projects/{project_id}": 2}.get(
        path, 0
    )


def fill(path: str, ids: dict[str, str]) -> str:
    """The path with its parameters from ``ids`` (some routes take a resource of their own:
    ``endpoint_routes.SEPARATE``)."""
    ids = ids | {name: ids[key] for name, key in endpoint_routes.SEPARATE.get(path, {}).items()}
    return path.format(**ids) if "{" in path else path
