"""Keep a pipeline run's out-of-fold results beside the docs: aggregate metrics and plots, no data rows.

A `python -m training run` writes its report under `runs/<name>/report/` (ignored by git, and holding
per-row predictions of data that must not be copied). This keeps what docs/quality.md shows from it:

.venv/bin/python -m bench.pipeline_export runs/shared-qc-gemma-3-270m --name pipeline_gemma270m
.venv/bin/python -m bench.quality_report --update docs/quality.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_KEYS = ("learning_rate", "epochs", "max_steps", "batch_size", "max_length")
PLOTS = ("pr", "f1_by_language", "scores")  # training.evaluate's plot names, `<plot>_<task>.png`


def fold_metrics(report: Path, folds_file: Path, thresholds: dict[str, float]) -> dict[str, list[dict]]:
    """Per task, each held-out fold's metrics at the run's OOF threshold: how much the folds differ."""
    from training.evaluate import compute_metrics, read_predictions

    fold_of = json.loads(folds_file.read_text(encoding="utf-8"))["folds"]
    by_fold: dict[tuple[str, int], list] = {}
    for p in read_predictions(report / "oof_predictions.jsonl"):
        by_fold.setdefault((p.task.value, fold_of[p.id]), []).append(p)
    out: dict[str, list[dict]] = {}
    for task, threshold in thresholds.items():
        rows = []
        for k in sorted(k for t, k in by_fold if t == task):
            held = by_fold[task, k]
            m = compute_metrics(
                labels=[int(p.label) for p in held],  # type: ignore[arg-type]
                scores=[p.score for p in held],
                languages=[p.language for p in held],
                threshold=threshold,
            )
            extra = m.model_extra or {}
            rows.append(
                {
                    "fold": k,
                    "n": extra["n"],
                    "positive_rate": extra["positive_rate"],
                    "f1": m.f1,
                    "roc_auc": m.roc_auc,
                    "baseline_all_positive_f1": extra["baseline_all_positive_f1"],
                }
            )
        out[task] = rows
    return out


def measured_cost(run: dict) -> dict[str, float]:
    """The CV stage's cost as the pipeline recorded it (folds from older runs carry no timing)."""
    folds = run["folds"]
    cost: dict[str, float] = {}
    for key, name in (("seconds", "wall_minutes"), ("cpu_seconds", "cpu_minutes")):
        if folds and all(f.get(key) is not None for f in folds):
            cost[name] = round(sum(f[key] for f in folds) / 60, 1)
    if run.get("peak_rss_gib") is not None:
        cost["peak_rss_gib"] = run["peak_rss_gib"]
    return cost


def summarise(run: dict, *, cost: dict[str, float]) -> dict:
    """The parts of a run's `run.json` a reader needs: what ran, per-fold steps, thresholds, metrics;
    `cost` (measured outside the run) overrides what the run recorded."""
    config = run["config"]
    train = config["train"]
    return {
        "run": config["name"],
        "base_model": train["base_model"],
        "method": "full fine-tuning" if train.get("full_finetune") else f"LoRA r={train['lora']['r']}",
        "train": {k: train.get(k) for k in TRAIN_KEYS},
        "folds": config["cv"]["folds"],
        "seed": config["cv"]["seed"],
        "fold_runs": [
            {k: f.get(k) for k in ("fold", "total_steps", "train_size", "history", "seconds")}
            for f in run["folds"]
        ],
        "thresholds": run["thresholds"],
        "metrics": run["metrics"],
        "cost": {**measured_cost(run), **cost},
    }


def export(run_dir: Path, *, name: str, results_dir: Path, img_dir: Path, cost: dict[str, float]) -> Path:
    from models.io import atomic_write_json

    report = run_dir / "report"
    run_json = report / "run.json"
    if not run_json.is_file():
        raise FileNotFoundError(f"{run_json} not found: has `python -m training run` finished its CV report?")
    summary = summarise(json.loads(run_json.read_text(encoding="utf-8")), cost=cost)
    if not summary["metrics"]:
        raise ValueError(f"{run_json} holds no out-of-fold metrics (was cv.enabled false?)")
    summary["by_fold"] = fold_metrics(report, run_dir / "folds.json", summary["thresholds"])
    img_dir.mkdir(parents=True, exist_ok=True)
    for task in summary["metrics"]:
        for plot in PLOTS:
            source = report / f"{plot}_{task}.png"
            if source.is_file():
                shutil.copyfile(source, img_dir / f"{name}_{plot}_{task}.png")
    out = results_dir / f"{name}.json"
    atomic_write_json(out, summary)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the run's work_dir (runs/<name>)")
    parser.add_argument("--name", required=True, help="results/<name>.json and img/<name>_*.png")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img")
    # The pipeline records its folds' time and its peak memory; these override them (e.g. /usr/bin/time).
    parser.add_argument("--wall-minutes", type=float, help="wall time of the CV stage")
    parser.add_argument("--cpu-minutes", type=float, help="user + system time of the CV stage")
    parser.add_argument("--peak-rss-gib", type=float, help="peak resident memory of the run")
    args = parser.parse_args(argv)
    cost = {
        key: value
        for key, value in (
            ("wall_minutes", args.wall_minutes),
            ("cpu_minutes", args.cpu_minutes),
            ("peak_rss_gib", args.peak_rss_gib),
        )
        if value is not None
    }
    try:
        out = export(
            args.run_dir, name=args.name, results_dir=args.results_dir, img_dir=args.img_dir, cost=cost
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
