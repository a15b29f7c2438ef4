"""The relevance API's bodies, built from the task registry: each task's pair names its target field
after the task's spec (`category_path`, `item_title`, ...), so a registered task gets its schema with no
code here. Models are built once per spec (`pair_model`, `request_model`) and named after the task
(`QCPair`, `QCRequest`), which is what the OpenAPI document shows.

Size limits that are settings (pairs per request, characters per field) are checked by `check_limits`, not
by the schema, because a schema is built once and settings are per app. `to_inputs` and `to_response` map
bodies to the domain (`serving`) and back.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model, field_validator

from models import PairInput, Task, TaskSpec
from service.errors import ApiError, ErrorType
from service.relevance.serving import Scored
from service.settings import Settings

# Strict int: a long numeric string must not slip past max_length by coercing to an int (nor a bool pass).
PairId = Annotated[str, Field(max_length=256)] | Annotated[int, Strict()]
# What `_not_blank` / `_levels_not_blank` check, said in the schema too (validation keeps their messages).
NOT_BLANK: dict[str, Any] = {"pattern": r"\S"}
LEVELS_NOT_BLANK: dict[str, Any] = {"contains": {"type": "string", **NOT_BLANK}}


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _levels_not_blank(value: str | list[str]) -> str | list[str]:
    if isinstance(value, str):
        return _not_blank(value)
    if not value or not any(level.strip() for level in value):
        raise ValueError("must have at least one non-blank level")
    return value


class PairBase(BaseModel):
    """The fields every task's pair has; `pair_model` adds the task's target field."""

    model_config = ConfigDict(extra="forbid")
    target_field: ClassVar[str] = ""

    query: str = Field(
        min_length=1, json_schema_extra=NOT_BLANK, description="the search query, in any language"
    )
    language: str | None = Field(
        None,
        max_length=35,
        description="query language (ISO 639-1, e.g. es): labels metrics, and routes the translation of a "
        "missing query_en for models trained with apertium translations",
    )
    query_en: str | None = Field(
        None,
        description="English translation of the query (used if the model was trained with it; filled by "
        "the service when absent and the model's engine is apertium)",
    )
    id: PairId | None = Field(None, description="echoed back in the result")

    _query_not_blank = field_validator("query")(_not_blank)

    @property
    def target(self) -> str | list[str]:
        return getattr(self, self.target_field)


class RequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        strict=True,  # a number, as the schema says: not `false` or "0.5" coerced to one
        description="decision threshold for `relevant` (default: the model card's)",
    )


def _model_name(spec: TaskSpec) -> str:
    return spec.name.upper().replace("_", "")


@functools.cache
def pair_model(spec: TaskSpec) -> type[PairBase]:
    """`QCPair`: a pair of `spec`'s task; the target is a string, or a list of levels if the task takes
    them, and never blank."""
    description = spec.target_description or f"the {spec.target_label}"
    if spec.target_levels:
        # Schema-only limits here: in a union, failed constraints would name the branch instead of the field.
        levels = Annotated[
            list[Annotated[str, Field(min_length=1)]],
            Field(json_schema_extra={"minItems": 1, **LEVELS_NOT_BLANK}),
        ]
        text = Annotated[str, Field(json_schema_extra={"minLength": 1, **NOT_BLANK})]
        target: Any = (text | levels, Field(description=description))
        check = _levels_not_blank
    else:
        target = (str, Field(min_length=1, json_schema_extra=NOT_BLANK, description=description))
        check = _not_blank
    model = create_model(  # type: ignore[call-overload]
        f"{_model_name(spec)}Pair",
        __base__=PairBase,
        __module__=__name__,
        __validators__={"_target_not_blank": field_validator(spec.target_field)(check)},
        **{spec.target_field: target},
    )
    model.target_field = spec.target_field
    return model


@functools.cache
def request_model(spec: TaskSpec) -> type[RequestBase]:
    """`QCRequest`: the body of `POST /v1/relevance/<task>`."""
    pairs = (
        list[pair_model(spec)],  # type: ignore[misc]
        Field(min_length=1, description="pairs to score; results come back in this order"),
    )
    return create_model(  # type: ignore[call-overload]
        f"{_model_name(spec)}Request", __base__=RequestBase, __module__=__name__, pairs=pairs
    )


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


def check_limits(pairs: Sequence[PairBase], settings: Settings) -> None:
    """The request limits that are settings: pairs per request and characters per text field."""
    limit = settings.max_pairs_per_request
    if len(pairs) > limit:
        raise ApiError(
            ErrorType.TOO_MANY_PAIRS,
            f"{len(pairs)} pairs in one request; the limit is {limit} (split the request)",
            param="pairs",
        )
    max_chars = settings.max_chars_per_field
    for i, pair in enumerate(pairs):
        target = pair.target if isinstance(pair.target, str) else ",".join(pair.target)
        fields = {
            "query": pair.query,
            "query_en": pair.query_en or "",
            "id": pair.id if isinstance(pair.id, str) else "",
            pair.target_field: target,
        }
        for name, text in fields.items():
            if len(text) > max_chars:
                raise ApiError(
                    ErrorType.TEXT_TOO_LONG,
                    f"pairs[{i}].{name} has {len(text)} characters; the limit is {max_chars}",
                    param=f"pairs[{i}].{name}",
                )


def to_inputs(task: Task, pairs: Sequence[PairBase]) -> list[PairInput]:
    """Request pairs -> the domain's pairs."""
    return [PairInput(task=task, query=p.query, target=p.target, query_en=p.query_en) for p in pairs]


def to_response(pairs: Sequence[PairBase], scored: Scored) -> RelevanceResponse:
    """The domain's result -> the response body, in request order with the request's ids."""
    results = [
        PairResult(id=p.id, score=score, relevant=relevant)
        for p, score, relevant in zip(pairs, scored.scores, scored.relevant, strict=True)
    ]
    return RelevanceResponse(
        model=scored.model,
        task=scored.task,
        results=results,
        usage=Usage(pairs=len(results), tokens=scored.tokens, truncated=scored.truncated),
    )
