"""Observability summary, exported metrics vs the dashboard, regions, and the read replica."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from raylane.core.runs.models import RunStatus
from raylane.deploy.metrics_catalog import DASHBOARD_METRICS, PLANNED
from raylane.infra.db.urls import app_url
from raylane.serve.app import create_app
from tests.factories import Api, Tenant


async def _queued_run(api: Api, tenant: Tenant) -> dict[str, Any]:
    owner = api.as_(tenant)
    project = (
        await owner.post("/api/v1/projects", json={"name": f"o-{uuid.uuid4().hex[:6]}"})
    ).json()
    collection = (
        await owner.post(f"/api/v1/projects/{project['id']}/collections", json={"name": "c"})
    ).json()
    return dict((await owner.post(f"/api/v1/collections/{collection['id']}/ingest")).json())


async def test_summary_reports_runs_http_tokens_and_ray(
    api: Api, org_a: Tenant, org_b: Tenant
) -> None:
    run = await _queued_run(api, org_a)
    await _queued_run(api, org_b)
    for _ in range(3):
        await api.as_(org_a).get("/api/v1/projects")
    summary = (await api.as_(org_a).get("/api/v1/observability")).json()
    assert summary["organization_id"] == org_a.organization_id
    # A reconciler sharing this database (the e2e stack's) may have moved the run on already.
    [row] = summary["runs"]["by_status"]  # org_b's run is not counted
    assert row["kind"] == "ingest" and row["count"] == 1
    assert row["status"] in {status.value for status in RunStatus}
    assert [r["id"] for r in summary["runs"]["recent"]] == [run["id"]]  # not org_b's
    assert summary["http"]["requests"] >= 3 and summary["http"]["p50_ms"] > 0
    assert summary["tokens"]["used_today"] == 0
    assert summary["ray"]["connected"] is False  # this app runs without Ray
    viewer = await api.member(org_a, role="viewer")
    assert (await api.as_(viewer).get("/api/v1/observability")).status_code == 403


async def test_every_dashboard_metric_is_exported(api: Api, org_a: Tenant) -> None:
    await _queued_run(api, org_a)
    await api.as_(org_a).post("/api/v1/guardrails/check", json={"text": "mail a@example.com"})
    project = (await api.as_(org_a).post("/api/v1/projects", json={"name": "m"})).json()
    await api.as_(org_a).post(
        f"/api/v1/projects/{project['id']}/copilot/chat",
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
    )
    text = (await api.http.get("/metrics")).text
    exported = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] not in "#"
    }
    exported |= {name.removesuffix("_bucket") for name in exported}
    ours = [
        m.name for m in DASHBOARD_METRICS if m.name.startswith("raylane_") and m.name not in PLANNED
    ]
    missing = [name for name in ours if name not in exported]
    assert not missing, missing
    assert 'raylane_runs{kind="ingest",status="' in text  # status moves on if a reconciler runs


async def test_organization_pinned_elsewhere_is_refused(api: Api, platform_admin: Tenant) -> None:
    slug = f"eu-{uuid.uuid4().hex[:6]}"
    r = await api.as_(platform_admin).post(
        "/api/v1/organizations",
        json={
            "name": slug,
            "slug": slug,
            "region": "eu-west",
            "owner_email": f"o@{slug}.example.com",
        },
    )
    assert r.status_code == 201 and r.json()["organization"]["region"] == "eu-west"
    refused = await api.as_(r.json()["owner_api_key"]).get("/api/v1/projects")
    assert refused.status_code == 409 and refused.json()["error"] == "wrong_region"
    assert "eu-west" in refused.json()["detail"]


async def test_analytics_reads_use_the_replica(services: Any, org_a: Tenant, api: Api) -> None:
    await api.as_(org_a).post("/api/v1/projects", json={"name": "replicated"})
    # A replica is any read-only copy; the primary itself stands in for one here.
    app = create_app(services.model_copy(update={"database_replica_url": app_url(services)}))
    async with app.router.lifespan_context(app):
        platform = app.state.platform
        assert platform.read_db is not platform.db
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            headers = {"Authorization": f"Bearer {org_a.token}"}
            events = await http.get("/api/v1/audit/events?action=project.create", headers=headers)
            assert events.status_code == 200 and events.json()["items"]
            assert (await http.get("/api/v1/observability", headers=headers)).status_code == 200
