"""The evaluation report: `report.md`, `metrics.json` and PNG plots per task, and the `evaluate` stage
that writes one from a predictions file.

The numbers come from `training.evaluate` (metrics, threshold tuning, predictions files); this module only
lays them out: a summary table, a per-language table against the all-positive baseline, a PR curve, F1
by language and score histograms per task.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models import Task, TaskMetrics
from models.io import atomic_directory
from models.scores import check_threshold
from training.evaluate import (
    TaskResult,
    compute_metrics,
    read_predictions,
    results_from_predictions,
    validated_arrays,
)

REPORT_NAME = "report.md"
METRICS_NAME = "metrics.json"


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

    y, s = validated_arrays(result.labels, result.scores)
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
    if args.threshold is not None:
        check_threshold(args.threshold, what="--threshold")
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
