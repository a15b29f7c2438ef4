"""POST /v1/relevance/<task>: one route per registered task, generated when the app is created.

The routes only map bodies to domain inputs and results back (`protocol`); scoring is `serving`'s.
(No `from __future__ import annotations` here: FastAPI reads each generated route's body type from its
annotation, which must be the task's request class itself.)
"""

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request

from models import Task
from service.deps import ScoringDep, SettingsDep, require_api_key
from service.errors import ERROR_RESPONSES, ApiError, ErrorType
from service.http import cancel_on_disconnect
from service.relevance.protocol import RelevanceResponse, check_limits, request_model, to_inputs, to_response


def _route(task: Task) -> Callable[..., Any]:
    body_type = request_model(task.spec)

    async def score(body: body_type, request: Request, scoring: ScoringDep, settings: SettingsDep):  # type: ignore[valid-type]
        check_limits(body.pairs, settings)
        work = scoring.score(
            task,
            to_inputs(task, body.pairs),
            threshold=body.threshold,
            languages=[p.language for p in body.pairs],
        )
        return to_response(body.pairs, await cancel_on_disconnect(request, work))

    return score


def build_router(tasks: Sequence[Task]) -> APIRouter:
    router = APIRouter(
        prefix="/v1/relevance",
        tags=["relevance"],
        dependencies=[Depends(require_api_key)],
        responses=ERROR_RESPONSES,
    )
    for task in tasks:
        router.add_api_route(
            f"/{task}",
            _route(task),
            methods=["POST"],
            response_model=RelevanceResponse,
            summary=task.spec.summary,
            name=f"score_{task}",
        )
    served = ", ".join(tasks)

    async def unknown_task(task: str) -> None:
        raise ApiError(ErrorType.UNKNOWN_TASK, f"unknown task {task!r}; use one of: {served}", param="task")

    router.add_api_route("/{task}", unknown_task, methods=["POST"], include_in_schema=False)
    return router
