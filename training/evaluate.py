"""Metrics, threshold tuning and the evaluation report.

Positive-class F1 is the competition metric; it is reported overall and per language against the
trivial all-positive baseline (on imbalanced data that baseline is high: 0.81 on the shared QC set), so
a model that merely learned the prior is visible at a glance. The threshold is tuned on out-of-fold
predictions, never on the data it is then scored on, unless the report says so.

Predictions (written by the predict stage, read here) are JSONL rows
`{"id", "task", "language", "label"?, "score"}` with `score` a probability in [0, 1].
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import Task, TaskMetrics
from models.store import atomic_directory
from training.data import DataError, atomic_write_text, parse_label, parse_task, split_lines

log = logging.getLogger(__name__)

REPORT_NAME = "report.md"
METRICS_NAME = "metrics.json"
DEFAULT_THRESHOLD = 0.5
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


def _arrays(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
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

    y, s = _arrays(labels, scores)
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


def all_positive_f1(positive_rate: float) -> float:
    """F1 of predicting every pair relevant: precision = positive rate, recall = 1."""
    return 2 * positive_rate / (1 + positive_rate) if positive_rate > 0 else 0.0


def _binary(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    pred = (s >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, pred, average="binary", pos_label=1, zero_division=0
    )
    both = 0 < y.sum() < y.size
    positive_rate = float(y.mean())
    return {
        "n": int(y.size),
        "positive_rate": positive_rate,
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
    y, s = _arrays(labels, scores)
    langs = np.asarray([str(lang) for lang in languages])
    if langs.shape != y.shape:
        raise ValueError(f"languages must match labels in length ({langs.size} vs {y.size})")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
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
        pr_auc=overall["pr_auc"],
        f1_at_0_5=_binary(y, s, DEFAULT_THRESHOLD)["f1"],
        baseline_all_positive_f1=overall["baseline_all_positive_f1"],
        by_language_detail=detail,
    )


# --------------------------------------------------------------------------------------------------
# Report


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
    for task in Task:
        rows = [p for p in predictions if p.task == task]
        if not rows:
            continue
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


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _plots(out: Path, task: Task, result: TaskResult, metrics: TaskMetrics) -> dict[str, str]:
    # Figures on an explicit Agg canvas: no pyplot global state, no switching a caller's backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    y, s = _arrays(result.labels, result.scores)
    names = {}
    extra = metrics.model_extra or {}

    # PR curve, the chosen operating point marked.
    fig = Figure(figsize=(5, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if y.sum() > 0:
        precision, recall, _ = precision_recall_curve(y, s)
        ax.plot(recall, precision, lw=1.5, label=f"PR curve (AP {_fmt(extra.get('pr_auc'), 3)})")
    ax.scatter([metrics.recall], [metrics.precision], color="C3", zorder=3,
               label=f"threshold {result.threshold:.3f}: F1 {metrics.f1:.3f}")  # fmt: skip
    ax.axhline(float(y.mean()), color="grey", ls=":", lw=1, label="all-positive precision")
    ax.set(
        xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01), title=f"{task.value.upper()} PR"
    )
    ax.legend(loc="lower left", fontsize=8)
    names["pr"] = f"pr_{task.value}.png"
    fig.savefig(out / names["pr"], dpi=110)

    # F1 per language against the all-positive baseline.
    overall = {
        "n": extra["n"],
        "f1": metrics.f1,
        "baseline_all_positive_f1": extra["baseline_all_positive_f1"],
    }
    detail = {"all": overall, **extra.get("by_language_detail", {})}
    langs = list(detail)
    fig = Figure(figsize=(max(5, 0.6 * len(langs) + 2), 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(langs))
    ax.bar(x - 0.2, [detail[lang]["f1"] for lang in langs], width=0.4, label="model F1")
    ax.bar(x + 0.2, [detail[lang]["baseline_all_positive_f1"] for lang in langs], width=0.4,
           color="lightgrey", label="all-positive F1")  # fmt: skip
    ax.set_xticks(x, [f"{lang}\n(n={detail[lang]['n']})" for lang in langs], fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="F1", title=f"{task.value.upper()} F1 by language")
    ax.legend(loc="lower right", fontsize=8)
    names["f1_by_language"] = f"f1_by_language_{task.value}.png"
    fig.savefig(out / names["f1_by_language"], dpi=110)

    # Score distributions per label.
    fig = Figure(figsize=(5, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    for label, colour in ((0, "C0"), (1, "C1")):
        ax.hist(
            s[y == label], bins=bins, alpha=0.6, color=colour, label=f"label {label} (n={(y == label).sum()})"
        )
    ax.axvline(result.threshold, color="C3", ls="--", label=f"threshold {result.threshold:.3f}")
    ax.set(xlabel="score", ylabel="pairs", title=f"{task.value.upper()} scores by label")
    ax.legend(fontsize=8)
    names["scores"] = f"scores_{task.value}.png"
    fig.savefig(out / names["scores"], dpi=110)
    return names


def _table_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _threshold_note(result: TaskResult) -> str:
    if result.tuned_from_oof:
        return "tuned for F1 on these predictions (PR curve); optimistic unless they are out-of-fold"
    return "given (not tuned on these predictions)"


def _markdown(
    title: str, notes: str, sections: list[tuple[Task, TaskResult, TaskMetrics, dict[str, str]]]
) -> str:
    out = [f"# {title}", ""]
    if notes:
        out += [notes.strip(), ""]
    out += [
        "## Summary",
        "",
        "| task | n | positive rate | threshold | F1 | precision | recall | ROC AUC | PR AUC | F1 @ 0.5 "
        "| all-positive F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task, result, m, _ in sections:
        e = m.model_extra or {}
        cells = [task.value.upper(), e["n"], _fmt(e["positive_rate"], 3), _fmt(result.threshold, 3)]
        cells += [f"**{_fmt(m.f1)}**", _fmt(m.precision), _fmt(m.recall), _fmt(m.roc_auc), _fmt(e["pr_auc"])]
        cells += [_fmt(e["f1_at_0_5"]), _fmt(e["baseline_all_positive_f1"])]
        out.append(_table_row(cells))
    out.append("")
    for task, result, _, _ in sections:
        out.append(f"- {task.value.upper()} threshold {result.threshold:.4f}: {_threshold_note(result)}.")
    if len(sections) > 1:
        mean = sum(m.f1 or 0.0 for _, _, m, _ in sections) / len(sections)
        out.append(f"- Mean F1 over tasks (the competition score): **{mean:.4f}**.")
    out.append("")
    for task, _, m, plots in sections:
        detail = (m.model_extra or {})["by_language_detail"]
        out += [
            f"## {task.value.upper()}",
            "",
            "| language | n | positive rate | F1 | precision | recall | ROC AUC | all-positive F1 "
            "| F1 − baseline |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for lang, d in detail.items():
            base = d["baseline_all_positive_f1"]
            cells = [lang, d["n"], _fmt(d["positive_rate"], 3), _fmt(d["f1"]), _fmt(d["precision"])]
            cells += [_fmt(d["recall"]), _fmt(d["roc_auc"]), _fmt(base), f"{d['f1'] - base:+.4f}"]
            out.append(_table_row(cells))
        out += [
            "",
            f"![{task.value} precision-recall curve]({plots['pr']})",
            f"![{task.value} F1 by language]({plots['f1_by_language']})",
            f"![{task.value} score histograms]({plots['scores']})",
            "",
            f"Plots: [PR curve]({plots['pr']}), [F1 by language]({plots['f1_by_language']}), "
            f"[score histograms]({plots['scores']}).",
            "",
        ]
    return "\n".join(out)


def write_report(
    out_dir: str | Path,
    *,
    title: str,
    results: Mapping[Task, TaskResult | Mapping[str, Any] | Sequence[Any]],
    notes: str = "",
) -> Path:
    """Write `report.md`, `metrics.json` and the plots into `out_dir` (all or nothing); returns report.md."""
    if not results:
        raise ValueError("no task results to report")
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        sections = []
        for task, value in sorted(results.items(), key=lambda kv: Task(kv[0]).value):
            task = Task(task)
            result = TaskResult.coerce(value)
            metrics = compute_metrics(
                labels=result.labels,
                scores=result.scores,
                languages=result.languages,
                threshold=result.threshold,
            )
            sections.append((task, result, metrics, _plots(tmp, task, result, metrics)))
        metrics_doc = {
            task.value: {**metrics.model_dump(), "tuned_from_oof": result.tuned_from_oof}
            for task, result, metrics, _ in sections
        }
        (tmp / METRICS_NAME).write_text(json.dumps(metrics_doc, indent=2) + "\n", encoding="utf-8")
        (tmp / REPORT_NAME).write_text(_markdown(title, notes, sections) + "\n", encoding="utf-8")
    return out_dir / REPORT_NAME


# --------------------------------------------------------------------------------------------------
# CLI


def _evaluate(args: argparse.Namespace) -> int:
    predictions = read_predictions(args.predictions)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold must be in [0, 1], got {args.threshold}")
    results = results_from_predictions(predictions, threshold=args.threshold)
    notes = [f"Predictions: `{args.predictions}` ({len(predictions)} rows)."]
    if args.threshold is None:
        notes.append(
            "No threshold was given: it was tuned for F1 on these same predictions, so the F1 shown is "
            "an upper bound unless they are out-of-fold predictions."
        )
    else:
        notes.append(f"Threshold given: {args.threshold}.")
    report = write_report(args.out, title=args.title, results=results, notes=" ".join(notes))
    for task, result in results.items():
        m = compute_metrics(
            labels=result.labels, scores=result.scores, languages=result.languages, threshold=result.threshold
        )
        base = (m.model_extra or {})["baseline_all_positive_f1"]
        print(
            f"{task.value}: F1 {m.f1:.4f} (P {m.precision:.4f}, R {m.recall:.4f}, AUC {_fmt(m.roc_auc)}) "
            f"at threshold {result.threshold:.4f}{' (tuned)' if result.tuned_from_oof else ''}; "
            f"all-positive F1 {base:.4f}"
        )
    print(f"wrote {report}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="metrics, tuned threshold and a markdown + plots report from a predictions file",
        description="Score labelled predictions (JSONL rows id, task, language, label, score): F1, "
        "precision, recall, ROC AUC overall and per language against the all-positive baseline; "
        "writes report.md, metrics.json and PNG plots.",
    )
    parser.add_argument("--predictions", type=Path, required=True, help="predictions JSONL with labels")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="decision threshold for every task "
        "(default: tune for F1 on these predictions, noted in the report)",
    )
    parser.add_argument("--out", type=Path, required=True, help="report directory (replaced atomically)")
    parser.add_argument("--title", default="Relevance evaluation", help="report title")
    parser.set_defaults(handler=_evaluate)
