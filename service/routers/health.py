"""Liveness and readiness probes. Ready: models loaded and warmed (the manager only publishes warmed
deployments) and every backend healthy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel

from service.deps import ServicesDep
from service.errors import ERROR_RESPONSES, not_ready

if TYPE_CHECKING:
    from service.deps import Services


class HealthResponse(BaseModel):
    status: str


async def check_ready(services: Services) -> None:
    manager, metrics = services.manager, services.metrics
    deployment = manager.current
    if deployment is None:
        metrics.ready.set(0)
        raise manager.not_ready()
    sick = [b.checkpoint.name for b in deployment.unique_backends() if not await b.healthy()]
    if sick:
        metrics.ready.set(0)
        raise not_ready(
            f"backend unhealthy for {', '.join(sick)}", retry_after_s=services.settings.retry_after_s
        )
    metrics.ready.set(1)


router = APIRouter(prefix="/health", tags=["health"], responses={503: ERROR_RESPONSES[503]})


@router.get("/live", response_model=HealthResponse, summary="The process is up")
async def live() -> HealthResponse:
    return HealthResponse(status="live")


@router.get("/ready", response_model=HealthResponse, summary="Models loaded, warmed and healthy (else 503)")
async def ready(services: ServicesDep) -> HealthResponse:
    await check_ready(services)
    return HealthResponse(status="ready")
