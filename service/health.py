"""Readiness: models loaded and warmed (the manager only publishes warmed deployments) and healthy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.errors import ApiError, ErrorType

if TYPE_CHECKING:
    from service.deps import Services


async def check_ready(services: Services) -> None:
    manager, metrics = services.manager, services.metrics
    retry = {"Retry-After": str(services.settings.retry_after_s)}
    deployment = manager.current
    if deployment is None:
        metrics.ready.set(0)
        reason = (
            f"no model loaded: {manager.load_error}" if manager.load_error else "models are still loading"
        )
        raise ApiError(ErrorType.NOT_READY, reason, headers=retry)
    sick = [b.checkpoint.name for b in deployment.unique_backends() if not await b.healthy()]
    if sick:
        metrics.ready.set(0)
        raise ApiError(ErrorType.NOT_READY, f"backend unhealthy for {', '.join(sick)}", headers=retry)
    metrics.ready.set(1)
