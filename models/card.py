"""The model card `relevance.json`: what a checkpoint serves and how its input is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.scores import DEFAULT_THRESHOLD, check_threshold
from models.tasks import Task

CARD_FILENAME = "relevance.json"
FORMAT_VERSION = 1


# Where a model's `query_en` came from: "apertium" (`models.translation`, which the service runs too),
# "seq2seq" (a local MT model, training only), "column" (the data's own query_en column).
TranslationEngine = Literal["apertium", "seq2seq", "column"]


class TranslationSpec(BaseModel):
    """The translations a model was trained with: the service fills a request's missing `query_en` with
    the same engine (when it can run it), so online input equals training input."""

    model_config = ConfigDict(extra="forbid")

    engine: TranslationEngine
    model: str | None = None  # seq2seq: the MT model (its directory's name)
    # Source languages translated; every other one passed through. None: every non-English language.
    languages: list[str] | None = None


class InputSpec(BaseModel):
    """How a (query, target) pair becomes model input; read by `models.formatting`."""

    model_config = ConfigDict(extra="forbid")

    max_length: int = Field(default=128, ge=8, le=32768)
    # `{query}` and `{query_en}` are the only placeholders; the translated form is used only when a
    # translation is given and differs from the query.
    query_format: str = "{query}"
    query_format_translated: str = "{query} - {query_en}"
    # Joint models put a task marker in front of the query so one checkpoint can serve both tasks.
    task_prefix: dict[Task, str] = Field(default_factory=dict)
    uses_translation: bool = False
    # Left out of dumps when None, so cards and training records of models without it keep their shape
    # (and their hashes: work directories are resumed by the dumped config).
    translation: TranslationSpec | None = Field(default=None, exclude_if=lambda value: value is None)

    @field_validator("query_format", "query_format_translated")
    @classmethod
    def _has_query(cls, value: str) -> str:
        if "{query}" not in value:
            raise ValueError("must contain the {query} placeholder")
        return value

    @model_validator(mode="after")
    def _translated_when_recorded(self) -> InputSpec:
        if self.translation is not None and not self.uses_translation:
            raise ValueError("input.translation is recorded but uses_translation is false")
        return self


class TaskMetrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    f1: float | None = None
    precision: float | None = None
    recall: float | None = None
    roc_auc: float | None = None
    by_language: dict[str, float] = Field(default_factory=dict)

    def language_rates(self) -> dict[str, LanguageRates]:
        """Language -> rates of the data these metrics were measured on (`by_language_detail`, written by
        `training.evaluate`: out-of-fold predictions on the training data for a CV run); {} when the card
        has none. A card written before `predicted_positive_rate` existed gets it as positive rate x
        recall / precision (= predicted positives / pairs), exact whenever precision > 0."""
        detail = (self.model_extra or {}).get("by_language_detail")
        out: dict[str, LanguageRates] = {}
        for language, d in (detail if isinstance(detail, dict) else {}).items():
            positive = _rate(d.get("positive_rate")) if isinstance(d, dict) else None
            if positive is None:
                continue
            relevant = _rate(d.get("predicted_positive_rate"))
            precision, recall = _rate(d.get("precision")), _rate(d.get("recall"))
            if relevant is None and precision and recall is not None:
                relevant = min(1.0, positive * recall / precision)
            n = d.get("n")
            out[str(language)] = LanguageRates(positive, relevant, n if _count(n) else None)
        return out


class LanguageRates(NamedTuple):
    """One language of a card's evaluation data: what the service's relevant rate is compared with."""

    positive: float  # share of pairs labelled relevant
    relevant: float | None  # share the model judged relevant at the metrics' threshold; None: unknown
    n: int | None  # pairs


def _rate(value: object) -> float | None:
    """`value` as a share in [0, 1], or None (missing, not a number, NaN or out of range)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# "cross-encoder": one sequence-classification pass over the pair (the paper's method). "bi-encoder": a
# sentence encoder embeds query and target apart and a small head scores the pair (`models.biencoder`).
ModelKind = Literal["cross-encoder", "bi-encoder"]


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: int = FORMAT_VERSION
    kind: ModelKind = "cross-encoder"
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    tasks: list[Task] = Field(min_length=1)
    base_model: str
    architecture: str
    num_labels: int = Field(ge=1, le=2)
    input: InputSpec = Field(default_factory=InputSpec)
    thresholds: dict[Task, float] = Field(default_factory=dict)
    # How `thresholds` were obtained, in words (e.g. F1-max on pooled out-of-fold scores, no step chosen
    # on held-out rows). None on cards written before it was recorded, and left out of their dumps.
    threshold_protocol: str | None = Field(default=None, exclude_if=lambda value: value is None)
    metrics: dict[Task, TaskMetrics] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    dtype: str = "float32"
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(
                f"unknown format_version {value}; this build reads format_version {FORMAT_VERSION} "
                "(re-export the checkpoint with a matching training version)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks must not repeat")
        for task, threshold in self.thresholds.items():
            if task not in self.tasks:
                raise ValueError(f"threshold given for task {task.value!r} that the card does not serve")
            check_threshold(threshold, what=f"threshold for {task.value!r}")
        if len(self.tasks) > 1:
            missing = [t.value for t in self.tasks if not self.input.task_prefix.get(t)]
            if missing:
                raise ValueError(f"a joint model needs input.task_prefix for every task; missing {missing}")
        return self

    @property
    def is_joint(self) -> bool:
        return len(self.tasks) > 1

    def threshold(self, task: Task) -> float:
        return self.thresholds.get(task, DEFAULT_THRESHOLD)

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))

    def write(self, path: Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
