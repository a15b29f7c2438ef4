"""POST /v1/relevance/{qc,qi}: score batches of pairs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from models import Task
from service.deps import ScoringDep, require_api_key
from service.errors import ERROR_RESPONSES, ApiError, ErrorType
from service.schemas import QCRequest, QIRequest, RelevanceResponse

router = APIRouter(
    prefix="/v1/relevance",
    tags=["relevance"],
    dependencies=[Depends(require_api_key)],
    responses=ERROR_RESPONSES,
)


async def _disconnected(request: Request) -> None:
    """Resolves when the client closes the connection (the body has been read by then)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("/qc", response_model=RelevanceResponse, summary="Score query-category pairs")
async def score_qc(body: QCRequest, request: Request, scoring: ScoringDep):
    return await scoring.score(Task.QC, body, disconnected=lambda: _disconnected(request))


@router.post("/qi", response_model=RelevanceResponse, summary="Score query-item pairs")
async def score_qi(body: QIRequest, request: Request, scoring: ScoringDep):
    return await scoring.score(Task.QI, body, disconnected=lambda: _disconnected(request))


@router.post("/{task}", include_in_schema=False)
async def unknown_task(task: str) -> None:
    raise ApiError(ErrorType.UNKNOWN_TASK, f"unknown task {task!r}; use qc or qi", param="task")
