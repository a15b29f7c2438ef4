"""Metrics, threshold tuning and predictions files (the report that lays them out: `training.report`).

Positive-class F1 is the competition metric; it is reported overall and per language against the
trivial all-positive baseline (on imbalanced data that baseline is high: 0.81 on the shared QC set), so
a model that merely learned the prior is visible at a glance. The threshold is tuned on out-of-fold
predictions, never on the data it is then scored on, unless the report says so.

Predictions (written by the predict stage, read here) are JSONL rows
`{"id", "task", "language", "label"?, "score"}` with `score` a probability in [0, 1].
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import Task, TaskMetrics
from models.io import atomic_write_text
from models.scores import DEFAULT_THRESHOLD, check_threshold, is_relevant
from training.data import DataError, parse_label, parse_task
from training.datafile import split_lines

log = logging.getLogger(__name__)

_MAX_ERRORS = 10


# --------------------------------------------------------------------------------------------------
# Predictions file


@dataclass(frozen=True, slots=True)
class Prediction:
    id: str
    task: Task
    language: str
    score: float
    label: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task, Task):
            object.__setattr__(self, "task", parse_task(self.task))

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "task": self.task.value, "language": self.language}
        if self.label is not None:
            row["label"] = self.label
        row["score"] = self.score
        return row


def write_predictions(path: str | Path, predictions: Iterable[Prediction]) -> None:
    """Write predictions as JSONL, atomically."""
    text = "".join(json.dumps(p.to_row(), ensure_ascii=False) + "\n" for p in predictions)
    atomic_write_text(path, text)


def _prediction(row: Any) -> Prediction:
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    missing = [k for k in ("id", "task", "language", "score") if k not in row]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    score = row["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
        raise ValueError(f"score {score!r} is not a probability in [0, 1]")
    language = str(row["language"]).strip().lower()
    if not language:
        raise ValueError("language is empty")
    return Prediction(
        id=str(row["id"]),
        task=parse_task(row["task"]),
        language=language,
        score=float(score),
        label=parse_label(row.get("label")),
    )


def read_predictions(path: str | Path) -> list[Prediction]:
    """Read a predictions JSONL file; every bad line is reported with its line number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    predictions: list[Prediction] = []
    errors: list[str] = []
    n_errors = 0
    seen: dict[tuple[Task, str], int] = {}
    for number, line in enumerate(split_lines(path.read_text(encoding="utf-8-sig")), start=1):
        if not line.strip():
            continue
        try:
            pred = _prediction(json.loads(line))
            key = (pred.task, pred.id)
            if key in seen:
                raise ValueError(f"{pred.task.value} id {pred.id!r} repeats line {seen[key]}")
            seen[key] = number
            predictions.append(pred)
        except (
            ValueError,
            json.JSONDecodeError,
        ) as exc:  # JSONDecodeError is a ValueError; named for clarity
            n_errors += 1
            if len(errors) < _MAX_ERRORS:
                errors.append(f"line {number}: {exc}")
    if n_errors:
        more = f"\n  ... and {n_errors - len(errors)} more" if n_errors > len(errors) else ""
        raise DataError(f"{path}: {n_errors} invalid prediction row(s):\n  " + "\n  ".join(errors) + more)
    if not predictions:
        raise DataError(f"{path}: no predictions")
    return predictions


# --------------------------------------------------------------------------------------------------
# Metrics


def validated_arrays(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Labels (0/1) and finite scores as 1-D arrays of one length; anything else is refused."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"labels and scores must be 1-D and the same length ({y.shape} vs {s.shape})")
    if y.size == 0:
        raise ValueError("no labelled predictions to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    return y.astype(int), s


def tune_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The threshold maximising positive-class F1 for `score >= threshold`, read off the PR curve.

    A PR-curve threshold t_k (a score) stands for the whole interval (t_{k-1}, t_k] of thresholds that
    give the same predictions; among optimal intervals the point nearest 0.5 wins, so 0.5 itself is
    returned whenever it is optimal, and near-ties do not drift to an extreme score.
    """
    from sklearn.metrics import precision_recall_curve

    y, s = validated_arrays(labels, scores)
    if y.sum() == 0:
        log.warning("no positive labels: F1 is 0 at every threshold; keeping %.2f", DEFAULT_THRESHOLD)
        return DEFAULT_THRESHOLD
    precision, recall, thresholds = precision_recall_curve(y, s)
    p, r = precision[:-1], recall[:-1]  # the last point (P=1, R=0) has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    best = f1.max()
    distinct = np.unique(s)
    candidates = []
    for k in np.flatnonzero(np.isclose(f1, best, rtol=0.0, atol=1e-12)):
        hi = thresholds[k]
        below = np.searchsorted(distinct, hi)  # the next lower score bounds the equivalent interval
        lo = distinct[below - 1] if below > 0 else -np.inf
        candidates.append(DEFAULT_THRESHOLD if lo < DEFAULT_THRESHOLD <= hi else float(hi))
    return min(candidates, key=lambda t: (abs(t - DEFAULT_THRESHOLD), t))


def oof_threshold_protocol(models: str) -> str:
    """How a published threshold was obtained (the card's `threshold_protocol`); `models` names what
    scored the out-of-fold rows ("5 fold model(s)")."""
    return (
        f"F1-max on the pooled out-of-fold scores of {models}, each trained on its fold's training rows "
        "for the configured schedule and scored at its last step: no step chosen on held-out rows, no "
        "held-out query seen through the other task"
    )


def all_positive_f1(positive_rate: float) -> float:
    """F1 of predicting every pair relevant: precision = positive rate, recall = 1."""
    return 2 * positive_rate / (1 + positive_rate) if positive_rate > 0 else 0.0


def _binary(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    pred = is_relevant(s, threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, pred, average="binary", pos_label=1, zero_division=0
    )
    both = 0 < y.sum() < y.size
    positive_rate = float(y.mean())
    return {
        "n": int(y.size),
        "positive_rate": positive_rate,
        # Share judged relevant at `threshold`: what the service's relevant rate is compared with.
        "predicted_positive_rate": float(pred.mean()),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
        "pr_auc": float(average_precision_score(y, s)) if y.sum() > 0 else None,
        "baseline_all_positive_f1": all_positive_f1(positive_rate),
    }


def compute_metrics(
    *, labels: Sequence[int], scores: Sequence[float], languages: Sequence[str], threshold: float
) -> TaskMetrics:
    """Overall and per-language metrics at `threshold` (`score >= threshold` is relevant)."""
    y, s = validated_arrays(labels, scores)
    langs = np.asarray([str(lang) for lang in languages])
    if langs.shape != y.shape:
        raise ValueError(f"languages must match labels in length ({langs.size} vs {y.size})")
    check_threshold(threshold)
    overall = _binary(y, s, threshold)
    detail = {lang: _binary(y[langs == lang], s[langs == lang], threshold) for lang in sorted(set(langs))}
    return TaskMetrics(
        f1=overall["f1"],
        precision=overall["precision"],
        recall=overall["recall"],
        roc_auc=overall["roc_auc"],
        by_language={lang: d["f1"] for lang, d in detail.items()},
        n=overall["n"],
        threshold=float(threshold),
        positive_rate=overall["positive_rate"],
        predicted_positive_rate=overall["predicted_positive_rate"],
        pr_auc=overall["pr_auc"],
        f1_at_0_5=_binary(y, s, DEFAULT_THRESHOLD)["f1"],
        baseline_all_positive_f1=overall["baseline_all_positive_f1"],
        by_language_detail=detail,
    )


# --------------------------------------------------------------------------------------------------
# Results per task


def per_fold_metrics(
    *, labels: np.ndarray, scores: np.ndarray, languages: Sequence[str], folds: np.ndarray, threshold: float
) -> dict[int, dict[str, float]]:
    """n, F1 and ROC-AUC of each fold's held-out rows at one (OOF-tuned) threshold; folds with NaN
    scores (not run) are left out."""
    out = {}
    for k in sorted(set(folds[~np.isnan(scores)].tolist())):
        held = folds == k
        m = compute_metrics(
            labels=labels[held],
            scores=scores[held],
            languages=[lang for lang, h in zip(languages, held, strict=True) if h],
            threshold=threshold,
        )
        out[k] = {"n": int(held.sum()), "f1": m.f1, "roc_auc": m.roc_auc}
    return out


@dataclass(frozen=True, slots=True)
class OofMetrics:
    """Cross-validation's report: one threshold tuned on the pooled out-of-fold scores, the metrics at
    it over every scored row, and each fold's."""

    threshold: float
    metrics: TaskMetrics
    per_fold: dict[int, dict[str, float]]


def oof_metrics(
    *, labels: Sequence[int], scores: np.ndarray, languages: Sequence[str], folds: np.ndarray
) -> OofMetrics:
    """The OOF report of `scores` (NaN where a fold was not run: those rows are left out)."""
    y = np.asarray(labels).astype(int)
    scored = ~np.isnan(scores)
    threshold = tune_threshold(y[scored], scores[scored])
    metrics = compute_metrics(
        labels=y[scored],
        scores=scores[scored],
        languages=[lang for lang, s in zip(languages, scored, strict=True) if s],
        threshold=threshold,
    )
    per_fold = per_fold_metrics(
        labels=y, scores=scores, languages=languages, folds=folds, threshold=threshold
    )
    return OofMetrics(threshold=threshold, metrics=metrics, per_fold=per_fold)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What the report needs for one task: out-of-fold (or test) labels and scores, and the threshold."""

    labels: Sequence[int]
    scores: Sequence[float]
    languages: Sequence[str]
    threshold: float
    tuned_from_oof: bool = False

    @classmethod
    def coerce(cls, value: TaskResult | Mapping[str, Any] | Sequence[Any]) -> TaskResult:
        """Accept a TaskResult, a mapping with its field names, or a tuple in field order."""
        if isinstance(value, TaskResult):
            return value
        if isinstance(value, Mapping):
            return cls(**value)
        return cls(*value)


def results_from_predictions(
    predictions: Sequence[Prediction], *, threshold: float | None = None
) -> dict[Task, TaskResult]:
    """Group labelled predictions per task; tune the threshold on them when none is given."""
    results: dict[Task, TaskResult] = {}
    for task in sorted({p.task for p in predictions}):
        rows = [p for p in predictions if p.task == task]
        unlabelled = sum(p.label is None for p in rows)
        if unlabelled:
            raise DataError(
                f"{unlabelled} of {len(rows)} {task.value} predictions have no label; evaluation needs "
                "labels (score labelled data, e.g. out-of-fold or a held-out set)"
            )
        labels = [int(p.label) for p in rows]  # type: ignore[arg-type]
        scores = [p.score for p in rows]
        tuned = threshold is None
        chosen = tune_threshold(labels, scores) if tuned else float(threshold)  # type: ignore[arg-type]
        results[task] = TaskResult(labels, scores, [p.language for p in rows], chosen, tuned_from_oof=tuned)
    return results
