"""POST /admin/reload: swap in a new checkpoint (also triggered by SIGHUP), by the configured strategy
(RELEVANCE_RELOAD_STRATEGY: side by side without downtime, or replace; `service.deployment`).

The body names one joint `model`, or models per task: `task_models` and, for each registered task, its
own `<task>_model` field (`qc_model`), so the body follows the registry like the scoring routes do.
Each is a checkpoint in the model store (RELEVANCE_MODELS_DIR), by name or by a path that resolves inside
it: a reload never loads a directory the operator did not put in the store (`confine`).
Admin routes need an admin key (RELEVANCE_ADMIN_KEYS) or, with none set, a loopback client (`deps`).
(No `from __future__ import annotations`: FastAPI reads the generated body type from the annotation.)
"""

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field, create_model

from models import ModelStore, Task
from service.deps import ManagerDep, require_admin
from service.errors import ERROR_RESPONSES, ApiError, ErrorType
from service.plan import ModelRefs
from service.routers.models import ModelInfo, model_infos
from service.settings import ReloadStrategy, task_model_key

ModelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        description="a checkpoint in the model store: its name, or a path that resolves inside the store",
    ),
]


def confine(ref: str, root: Path, param: str) -> str:
    """The checkpoint directory `ref` names inside the store `root` (resolved: symlinks followed), or a
    404 saying why not. A relative `ref` is read under `root` (never the working directory); `..` is
    refused outright, and so is anything that resolves outside the store, through a symlink or not."""
    store = root.resolve()

    def refuse(why: str) -> ApiError:
        return ApiError(
            ErrorType.NOT_FOUND,
            f"{ref!r} {why}: reload takes the name of a checkpoint in the model store {root} "
            "(RELEVANCE_MODELS_DIR), or a path that resolves inside it",
            param=param,
        )

    if "\x00" in ref or ".." in Path(ref).parts:
        raise refuse("is not a checkpoint name (`..` and NUL are not allowed)")
    try:
        resolved = (root / ref).resolve()  # an absolute `ref` replaces `root`
        inside = resolved != store and resolved.is_relative_to(store)
        exists = inside and resolved.is_dir()
    except (OSError, ValueError) as exc:
        raise refuse(f"is not a usable path ({type(exc).__name__})") from None
    if resolved == store:
        raise refuse("is the model store itself, not a checkpoint in it")
    if not inside:
        raise refuse("resolves outside the model store")
    if not exists:
        entries = ModelStore(root).list()
        known = ", ".join(e.name for e in entries if e.path.resolve().is_relative_to(store)) or "none"
        raise ApiError(
            ErrorType.NOT_FOUND,
            f"no checkpoint {ref!r} in the model store {root} (RELEVANCE_MODELS_DIR; known: {known})",
            param=param,
        )
    return str(resolved)


class ReloadBase(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: ModelName | None = Field(None, description="joint checkpoint (name in the model store)")

    def refs(self, tasks: Sequence[Task], root: Path) -> ModelRefs:
        """The named checkpoints as directories confined to the store `root` (raises a 404 otherwise)."""
        per_task: dict[Task, str] = {
            task: confine(name, root, f"task_models.{task}")
            for task, name in (getattr(self, "task_models", None) or {}).items()
        }
        for task in tasks:
            if name := getattr(self, task_model_key(task), None):
                per_task[task] = confine(name, root, task_model_key(task))
        model = confine(self.model, root, "model") if self.model else None
        return ModelRefs(model=model, task_models=per_task)


@functools.cache
def reload_request_model(tasks: tuple[Task, ...]) -> type[ReloadBase]:
    fields: dict[str, Any] = {task_model_key(task): (ModelName | None, None) for task in tasks}
    fields["task_models"] = (
        dict[Task, ModelName] | None,
        Field(None, description="checkpoint per task (names in the model store)"),
    )
    return create_model("ReloadRequest", __base__=ReloadBase, __module__=__name__, **fields)  # type: ignore[call-overload]


class ReloadResponse(BaseModel):
    generation: int
    strategy: ReloadStrategy = Field(
        description="how the models were swapped: side_by_side (no downtime) or replace (503 meanwhile)"
    )
    models: list[ModelInfo]


def build_router(tasks: Sequence[Task]) -> APIRouter:
    router = APIRouter(
        prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)], responses=ERROR_RESPONSES
    )
    tasks = tuple(tasks)
    body_type = reload_request_model(tasks)

    @router.post(
        "/reload",
        response_model=ReloadResponse,
        summary="Load a checkpoint and swap it in",
        description="Names checkpoints in the model store (RELEVANCE_MODELS_DIR); no body reloads the ones "
        "served. Needs an admin key (RELEVANCE_ADMIN_KEYS) when any is set; with none set, only clients "
        "on the server's loopback (127.0.0.1, ::1) may call it. A name not in the store is a 404. By "
        "RELEVANCE_RELOAD_STRATEGY, the old model serves until the new one is ready (side_by_side), or is "
        "drained and closed first while readiness and scoring answer 503 with Retry-After (replace). A "
        "checkpoint that fails to load is a 400 saying what serves now: the previous model (side_by_side), "
        "the previous model loaded again, or, if that failed too, nothing (replace; readiness says why).",
    )
    async def reload(manager: ManagerDep, body: Annotated[body_type | None, Body()] = None):  # type: ignore[valid-type]
        refs = await asyncio.to_thread(body.refs, tasks, manager.store.root) if body is not None else None
        deployment = await manager.reload(refs)
        return ReloadResponse(
            generation=deployment.generation, strategy=manager.strategy, models=model_infos(manager)
        )

    return router
