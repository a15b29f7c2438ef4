"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import ServicesDep
from service.errors import ERROR_RESPONSES
from service.health import check_ready
from service.schemas import HealthResponse

router = APIRouter(prefix="/health", tags=["health"], responses={503: ERROR_RESPONSES[503]})


@router.get("/live", response_model=HealthResponse, summary="The process is up")
async def live() -> HealthResponse:
    return HealthResponse(status="live")


@router.get("/ready", response_model=HealthResponse, summary="Models loaded, warmed and healthy (else 503)")
async def ready(services: ServicesDep) -> HealthResponse:
    await check_ready(services)
    return HealthResponse(status="ready")
