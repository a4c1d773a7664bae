"""Unauthenticated operational endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from raylane.schemas.health import HealthRead
from raylane.serve.deps import PlatformDep

router = APIRouter(tags=["operations"])


@router.get("/api/health", response_model=HealthRead, responses={503: {"model": HealthRead}})
async def get_health(platform: PlatformDep) -> JSONResponse:
    """Database, Redis and Ray status with latencies; 503 when any is down."""
    report = await platform.health()
    status = 200 if report.status == "ok" else 503
    return JSONResponse(report.model_dump(mode="json"), status_code=status)


@router.get("/metrics", include_in_schema=False)
async def get_metrics() -> Response:
    """Prometheus text exposition of this replica's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
