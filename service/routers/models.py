"""GET /v1/models: the loaded model cards (`ModelInfo` is also what a reload answers with)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from models import Task
from service.deployment import ModelManager
from service.deps import ManagerDep, require_api_key
from service.errors import ERROR_RESPONSES


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    tasks: list[Task]
    backend: str
    runtime: str = Field(
        description="what runs the model: the backend's own runtime (torch, vllm), or onnxruntime where ONNX "
        "Runtime runs a bi-encoder's transformer on the torch backend (RELEVANCE_ENCODER_RUNTIME, once its "
        "load check passed)"
    )
    thresholds: dict[Task, float]
    max_length: int
    card: dict[str, Any] = Field(description="the full model card (relevance.json)")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


def model_infos(manager: ModelManager) -> list[ModelInfo]:
    return [
        ModelInfo(
            name=m["card"].name,
            tasks=m["tasks"],
            backend=m["backend"],
            runtime=m["runtime"],
            thresholds=m["card"].thresholds,
            max_length=m["card"].input.max_length,
            card=m["card"].model_dump(mode="json"),
        )
        for m in manager.describe()
    ]


router = APIRouter(tags=["models"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)


@router.get("/v1/models", response_model=ModelsResponse, summary="Loaded models and their cards")
async def list_models(manager: ManagerDep) -> ModelsResponse:
    return ModelsResponse(models=model_infos(manager))
