"""GET /metrics: the app's registry, then the collectors the loaded backends bring (e.g. vLLM's)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.backends.base import ExposesMetrics
from service.deps import ServicesDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    extra = []
    if services.manager.current is not None:
        for backend in services.manager.current.unique_backends():
            if isinstance(backend, ExposesMetrics):
                extra += list(backend.metrics_registries())
    return Response(services.metrics.render(extra), media_type=CONTENT_TYPE_LATEST)
