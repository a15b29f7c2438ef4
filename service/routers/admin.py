"""POST /admin/reload: swap in a new checkpoint without downtime (also triggered by SIGHUP).

The body names one joint `model`, or models per task: `task_models` and, for each registered task, its
own `<task>_model` field (`qc_model`), so the body follows the registry like the scoring routes do.
(No `from __future__ import annotations`: FastAPI reads the generated body type from the annotation.)
"""

import functools
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field, create_model

from models import Task
from service.deployment import ModelRefs
from service.deps import ManagerDep, require_api_key
from service.errors import ERROR_RESPONSES
from service.routers.models import ModelInfo, model_infos
from service.settings import task_model_key


class ReloadBase(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(None, description="joint checkpoint (name or path)")

    def refs(self, tasks: Sequence[Task]) -> ModelRefs:
        per_task: dict[Task, str] = dict(getattr(self, "task_models", None) or {})
        for task in tasks:
            if name := getattr(self, task_model_key(task), None):
                per_task[task] = name
        return ModelRefs(model=self.model, task_models=per_task)


@functools.cache
def reload_request_model(tasks: tuple[Task, ...]) -> type[ReloadBase]:
    fields: dict[str, Any] = {task_model_key(task): (str | None, None) for task in tasks}
    fields["task_models"] = (dict[Task, str] | None, Field(None, description="checkpoint per task"))
    return create_model("ReloadRequest", __base__=ReloadBase, __module__=__name__, **fields)  # type: ignore[call-overload]


class ReloadResponse(BaseModel):
    generation: int
    models: list[ModelInfo]


def build_router(tasks: Sequence[Task]) -> APIRouter:
    router = APIRouter(
        prefix="/admin", tags=["admin"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES
    )
    tasks = tuple(tasks)
    body_type = reload_request_model(tasks)

    @router.post(
        "/reload",
        response_model=ReloadResponse,
        summary="Load a checkpoint; the old one serves until it is ready",
    )
    async def reload(manager: ManagerDep, body: Annotated[body_type | None, Body()] = None):  # type: ignore[valid-type]
        deployment = await manager.reload(body.refs(tasks) if body is not None else None)
        return ReloadResponse(generation=deployment.generation, models=model_infos(manager))

    return router
