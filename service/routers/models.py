"""GET /v1/models: the loaded model cards."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.deps import ManagerDep, require_api_key
from service.errors import ERROR_RESPONSES
from service.schemas import ModelsResponse
from service.views import model_infos

router = APIRouter(tags=["models"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)


@router.get("/v1/models", response_model=ModelsResponse, summary="Loaded models and their cards")
async def list_models(manager: ManagerDep) -> ModelsResponse:
    return ModelsResponse(models=model_infos(manager))
