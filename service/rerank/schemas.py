"""The rerank API's bodies, as Cohere's rerank API (v1 and v2) has them, and their mapping to the domain.

A request is one query and a list of documents (strings or `{"text": ...}` objects); each document becomes
one pair `(query, target=document text)` of the chosen task (`task`, else `model` if it names a task, else
QI) and is scored by `ScoringService` like any relevance pair. The answer lists `{index, relevance_score}`
by score, highest first, cut to `top_n`; `relevance_score` is the pair's calibrated probability, the very
score `POST /v1/relevance/<task>` gives the same pair. Limits are the relevance API's settings (documents
per request = pairs per request, characters per text), checked by `check_limits`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    field_validator,
)

from models import PairInput, Task
from service.errors import ApiError, ErrorType
from service.relevance.protocol import NOT_BLANK
from service.relevance.serving import Scored
from service.settings import Settings

DEFAULT_TASK = Task.QI  # rerank = query against document texts: item titles, unless asked otherwise


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _as_document(value: Any) -> Any:
    """A plain string is the document `{"text": value}` (Cohere accepts both forms)."""
    return {"text": value} if isinstance(value, str) else value


class RerankDocument(BaseModel):
    """A document to rank; fields besides `text` are kept and returned with it (`return_documents`)."""

    model_config = ConfigDict(extra="allow")

    text: str = Field(min_length=1, description="the text scored against the query")

    _text_not_blank = field_validator("text")(_not_blank)


_DOCUMENT_SCHEMA = {
    "anyOf": [
        {"type": "string", "minLength": 1, **NOT_BLANK},
        {
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 1, **NOT_BLANK}},
            "required": ["text"],
            "additionalProperties": True,
        },
    ]
}
DocumentIn = Annotated[RerankDocument, BeforeValidator(_as_document), WithJsonSchema(_DOCUMENT_SCHEMA)]


class RerankRequestBase(BaseModel):
    """The rerank body but for `task`, whose values are the app's tasks: `request_model` adds it."""

    model_config = ConfigDict(extra="forbid")

    # Strict numbers and booleans, as the schema says: `false` or "2" is not coerced to one. `NOT_BLANK`
    # says in the schema what `_not_blank` checks.
    query: str = Field(
        min_length=1, json_schema_extra=NOT_BLANK, description="the search query, in any language"
    )
    documents: list[DocumentIn] = Field(
        min_length=1, description='documents to rank: strings or objects with a "text" field'
    )
    top_n: int | None = Field(None, ge=1, strict=True, description="return the best `top_n` (default: all)")
    return_documents: bool = Field(False, strict=True, description="echo each result's document")
    model: str | None = Field(
        None,
        max_length=256,
        description="informational (the served checkpoint scores); a task name (`qi`, `qc`) picks that "
        "task when `task` is absent",
    )
    task: str | None = None  # `request_model`: one of the app's tasks
    # An extension, like `task`: Cohere's body has no language. It labels metrics and routes the query's
    # translation for a model trained on Apertium's (`service.translation`); without it, none.
    language: str | None = Field(
        None,
        max_length=32,
        description="the query's language (ISO code, e.g. es); a model trained on translated queries "
        "gets the query translated as in training",
    )
    # Cohere's other parameters, accepted so its clients work unchanged, and ignored: texts are ranked
    # whole, cut to the model's max length as the model card says.
    rank_fields: list[str] | None = Field(None, description="accepted and ignored: `text` is ranked")
    max_chunks_per_doc: int | None = Field(None, strict=True, description="accepted and ignored")
    max_tokens_per_doc: int | None = Field(
        None, strict=True, description="accepted and ignored (the card's length)"
    )
    priority: int | None = Field(None, strict=True, description="accepted and ignored")

    _query_not_blank = field_validator("query")(_not_blank)


@functools.cache
def request_model(tasks: tuple[Task, ...]) -> type[RerankRequestBase]:
    """`RerankRequest`, the body of the rerank routes of an app serving `tasks`: `task` is one of them, an
    enum in the OpenAPI document, so the schema refuses what the server refuses (an unknown task, "")."""
    names = tuple(str(task) for task in tasks)
    task = (
        Literal[names] | None,  # type: ignore[valid-type]
        Field(
            None, description=f"the task of the pairs, one of: {', '.join(names)} (default: {DEFAULT_TASK})"
        ),
    )
    return create_model(  # type: ignore[call-overload]
        "RerankRequest", __base__=RerankRequestBase, __module__=__name__, task=task
    )


class RerankResultDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str


class RerankResult(BaseModel):
    index: int = Field(description="the document's position in the request")
    relevance_score: float = Field(
        ge=0.0, le=1.0, description="calibrated probability that the document is relevant to the query"
    )
    document: RerankResultDocument | None = Field(None, description="with `return_documents` only")


class RerankTokens(BaseModel):
    input_tokens: int = Field(description="model input tokens, special tokens included")


class RerankMeta(BaseModel):
    tokens: RerankTokens
    warnings: list[str] | None = None


class RerankResponse(BaseModel):
    id: str = Field(description="the request id (also the x-request-id header)")
    model: str = Field(description="the checkpoint that scored the documents")
    task: Task
    results: list[RerankResult] = Field(description="by relevance_score, highest first")
    meta: RerankMeta


def pick_task(body: RerankRequestBase, served: Mapping[str, Task]) -> Task:
    """`task` if given (one of `served`), else `model` if it names a served task, else QI."""
    if body.task is not None:
        if body.task not in served:
            raise ApiError(
                ErrorType.VALIDATION_ERROR,
                f"unknown task {body.task!r}; use one of: {', '.join(served)}",
                param="task",
            )
        return served[body.task]
    if body.model is not None and body.model in served:
        return served[body.model]
    return DEFAULT_TASK


def check_limits(body: RerankRequestBase, settings: Settings) -> None:
    """The relevance API's limits that are settings: documents (pairs) per request, characters per text."""
    limit = settings.max_pairs_per_request
    if len(body.documents) > limit:
        raise ApiError(
            ErrorType.TOO_MANY_PAIRS,
            f"{len(body.documents)} documents in one request; the limit is {limit} (split the request)",
            param="documents",
        )
    max_chars = settings.max_chars_per_field
    texts = {"query": body.query} | {f"documents[{i}].text": d.text for i, d in enumerate(body.documents)}
    for name, text in texts.items():
        if len(text) > max_chars:
            raise ApiError(
                ErrorType.TEXT_TOO_LONG,
                f"{name} has {len(text)} characters; the limit is {max_chars}",
                param=name,
            )


def to_inputs(task: Task, body: RerankRequestBase) -> list[PairInput]:
    """One pair per document, in request order: (query, target = the document's text)."""
    return [PairInput(task=task, query=body.query, target=d.text) for d in body.documents]


def to_response(body: RerankRequestBase, scored: Scored, request_id: str) -> RerankResponse:
    """Indices by score, highest first (ties keep request order), cut to `top_n`."""
    order = sorted(range(len(scored.scores)), key=scored.scores.__getitem__, reverse=True)
    results = []
    for i in order[: body.top_n]:
        result = RerankResult(index=i, relevance_score=scored.scores[i])
        if body.return_documents:
            result.document = RerankResultDocument(**body.documents[i].model_dump())
        results.append(result)
    meta = RerankMeta(tokens=RerankTokens(input_tokens=scored.tokens))
    if scored.truncated:
        meta.warnings = [f"{scored.truncated} document(s) cut to the model's max length"]
    return RerankResponse(id=request_id, model=scored.model, task=scored.task, results=results, meta=meta)
