"""Unauthenticated operational endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from raylane.core.runs.repository import RunRepository
from raylane.infra.metrics import RUN_QUEUE_DEPTH, RUNS
from raylane.schemas.health import HealthRead
from raylane.serve.deps import PlatformDep
from raylane.serve.routing import Route

router = APIRouter(tags=["operations"], route_class=Route)


@router.get("/api/health", response_model=HealthRead, responses={503: {"model": HealthRead}})
async def get_health(platform: PlatformDep) -> JSONResponse:
    """Database, Redis and Ray status with latencies; 503 when any is down."""
    report = await platform.health()
    status = 200 if report.status == "ok" else 503
    return JSONResponse(report.model_dump(mode="json"), status_code=status)


@router.get("/metrics", include_in_schema=False)
async def get_metrics(platform: PlatformDep) -> Response:
    """Prometheus text exposition of this replica's metrics (run gauges read fresh)."""
    await refresh_run_gauges(platform)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def refresh_run_gauges(platform: PlatformDep) -> None:
    async with platform.read_db.session() as session:
        counts = await RunRepository(session).counts()
    RUNS.clear()
    RUN_QUEUE_DEPTH.clear()
    for kind, status, runs in counts:
        RUNS.labels(kind=kind, status=status).set(runs)
    for kind in {k for k, _, _ in counts}:
        queued = sum(n for k, s, n in counts if k == kind and s == "queued")
        RUN_QUEUE_DEPTH.labels(kind=kind).set(queued)
