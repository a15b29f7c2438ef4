"""POST /admin/reload: swap in a new checkpoint without downtime (also triggered by SIGHUP)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from service.deployment import ModelRefs
from service.deps import ManagerDep, require_api_key
from service.errors import ERROR_RESPONSES
from service.schemas import ReloadRequest, ReloadResponse
from service.views import model_infos

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES
)


@router.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Load a checkpoint; the old one serves until it is ready",
)
async def reload(manager: ManagerDep, body: Annotated[ReloadRequest | None, Body()] = None):
    refs = ModelRefs(**body.model_dump()) if body is not None else None
    deployment = await manager.reload(refs)
    return ReloadResponse(generation=deployment.generation, models=model_infos(manager))
