"""Request and response bodies of the HTTP API (contract 2 of DESIGN.md).

Size limits that are settings (pairs per request, characters per field) are checked by the scoring
service, not here, because a schema is fixed at import time and settings are per app.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models import Task

PairId = Annotated[str, Field(max_length=256)] | int


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class _PairBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, description="the search query, in any language")
    language: str | None = Field(
        None, max_length=35, description="query language (ISO 639-1, e.g. es); metrics only"
    )
    query_en: str | None = Field(
        None, description="English translation of the query (used if the model was trained with it)"
    )
    id: PairId | None = Field(None, description="echoed back in the result")

    _query_not_blank = field_validator("query")(_not_blank)


class QCPair(_PairBase):
    category_path: str | list[Annotated[str, Field(min_length=1)]] = Field(
        description='category path, "a,b,c" or ["a", "b", "c"] (top level first)'
    )

    @field_validator("category_path")
    @classmethod
    def _path_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            return _not_blank(value)
        if not value or not any(level.strip() for level in value):
            raise ValueError("must have at least one non-blank level")
        return value

    @property
    def target(self) -> str | list[str]:
        return self.category_path


class QIPair(_PairBase):
    item_title: str = Field(min_length=1, description="the item title")

    _title_not_blank = field_validator("item_title")(_not_blank)

    @property
    def target(self) -> str:
        return self.item_title


class _RelevanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="decision threshold for `relevant` (default: the model card's)"
    )


class QCRequest(_RelevanceRequest):
    pairs: list[QCPair] = Field(min_length=1, description="pairs to score; results come back in this order")


class QIRequest(_RelevanceRequest):
    pairs: list[QIPair] = Field(min_length=1, description="pairs to score; results come back in this order")


class PairResult(BaseModel):
    id: PairId | None = None
    score: float = Field(ge=0.0, le=1.0, description="calibrated probability that the pair is relevant")
    relevant: bool


class Usage(BaseModel):
    pairs: int
    tokens: int = Field(description="model input tokens, special tokens included")
    truncated: int = Field(description="pairs cut to the model's max length")


class RelevanceResponse(BaseModel):
    model: str
    task: Task
    results: list[PairResult]
    usage: Usage


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    tasks: list[Task]
    backend: str
    thresholds: dict[Task, float]
    max_length: int
    card: dict[str, Any] = Field(description="the full model card (relevance.json)")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(None, description="joint checkpoint (name or path)")
    qc_model: str | None = None
    qi_model: str | None = None


class ReloadResponse(BaseModel):
    generation: int
    models: list[ModelInfo]


class HealthResponse(BaseModel):
    status: str
