"""POST /v1/rerank and /v2/rerank (Cohere's paths; one handler): documents scored as pairs of one task by
the same `ScoringService` as `POST /v1/relevance/<task>`. Bodies and their mapping are `schemas`'s; the
request body is built per app, its `task` one of the app's tasks.
(No `from __future__ import annotations`: FastAPI reads the generated body type from the annotation.)"""

from collections.abc import Sequence
from uuid import uuid4

from fastapi import APIRouter, Depends, Request

from models import Task
from service.deps import ScoringDep, SettingsDep, require_api_key
from service.errors import ERROR_RESPONSES
from service.http import cancel_on_disconnect
from service.logs import request_id
from service.rerank.schemas import (
    RerankResponse,
    check_limits,
    pick_task,
    request_model,
    to_inputs,
    to_response,
)

PATHS = ("/v1/rerank", "/v2/rerank")


def build_router(tasks: Sequence[Task]) -> APIRouter:
    router = APIRouter(tags=["rerank"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)
    served = {str(task): task for task in tasks}
    body_type = request_model(tuple(tasks))

    async def rerank(
        body: body_type,  # type: ignore[valid-type]
        request: Request,
        scoring: ScoringDep,
        settings: SettingsDep,
    ) -> RerankResponse:
        task = pick_task(body, served)
        check_limits(body, settings)
        pairs = to_inputs(task, body)
        languages = [body.language] * len(pairs) if body.language else None
        scored = await cancel_on_disconnect(request, scoring.score(task, pairs, languages=languages))
        return to_response(body, scored, request_id.get() or uuid4().hex)

    for path in PATHS:
        router.add_api_route(
            path,
            rerank,
            methods=["POST"],
            response_model=RerankResponse,
            response_model_exclude_unset=True,
            summary="Rank documents by relevance to a query (Cohere-compatible)",
            name=f"rerank_{path.split('/')[1]}",
        )
    return router
