"""Compare the real bases on one budget: F1 and ROC-AUC per language on a held-out fold of the shared QC
data, with each run's wall time and peak memory, against the all-positive and TF-IDF baselines.

    .venv/bin/python -m bench.bases_compare                       # every config in training/configs/compare
    .venv/bin/python -m bench.bases_compare --configs training/configs/compare/qc_fold0_e5.yaml
    .venv/bin/python -m bench.bases_compare --report-only --update docs/bases.md

Each config is run as `python -m training run --config ...` in a child process; a config already in the
results JSON is not run again unless `--force`. Wall time is the child's; peak memory is its maximum
resident set (`wait4`). Metrics come from the run's `report/run.json` (threshold tuned on the scored
fold, as the pipeline does); the TF-IDF baseline (`bench.tfidf_baseline`) is scored on the same folds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.docs_sections import update_sections

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_CONFIGS = sorted((ROOT / "training" / "configs" / "compare").glob("*.yaml"))
DEFAULT_OUT = ROOT / "docs" / "results" / "bases_compare.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=Path, nargs="+", default=DEFAULT_CONFIGS, help="run configs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (merged across calls)")
    parser.add_argument("--force", action="store_true", help="rerun configs already in --out")
    parser.add_argument("--report-only", action="store_true", help="only print the table from --out")
    parser.add_argument("--update", type=Path, help="markdown file whose bases section is rewritten")
    return parser


def run_config(path: Path) -> dict:
    """Run one config in a child process; its wall time and peak RSS."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "training", "run", "--config", str(path)], cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{path} failed with exit code {proc.returncode}")
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),  # ru_maxrss is KiB on Linux
    }


def run_metrics(config_path: Path) -> dict:
    from training.config import load_run_config

    config = load_run_config(config_path)
    doc = json.loads((ROOT / config.report_dir / "run.json").read_text(encoding="utf-8"))
    train = config.train
    method = "full FT" + (" (embeddings frozen)" if train.freeze_embeddings else "")
    return {
        "base": train.base_model,
        "method": method if train.full_finetune else f"LoRA r{train.lora.r}",
        "pairs_seen": (train.max_steps or 0) * train.batch_size,
        "folds": config.cv.folds,
        "scored_folds": config.cv.trained_folds,
        "seed": config.cv.seed,
        "data": str(config.data[next(iter(config.data))]),
        "metrics": doc["metrics"]["qc"],
    }


def tfidf(data: str, folds: int, seed: int, scored: list[int], out: Path) -> dict:
    from bench import tfidf_baseline

    code = tfidf_baseline.main(
        [
            "--data",
            str(ROOT / data),
            "--folds",
            str(folds),
            "--seed",
            str(seed),
            "--only-folds",
            ",".join(map(str, scored)),
            "--out",
            str(out),
        ]
    )
    if code != 0:
        raise SystemExit("TF-IDF baseline failed")
    return json.loads(out.read_text(encoding="utf-8"))


def table(results: dict) -> str:
    runs = results.get("runs", {})
    if not runs:
        return "(no runs yet)\n"
    baseline = results.get("tfidf")
    first = next(iter(runs.values()))
    langs = sorted(first["metrics"]["by_language_detail"])
    head = ["system", "training", "wall", "CPU", "peak RSS", "F1", "ROC-AUC"] + [
        f"{x} F1 / AUC" for x in langs
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]

    def row(name: str, training: str, cost: list[str], m: dict) -> str:
        detail = m["by_language_detail"]
        per_lang = [f"{detail[x]['f1']:.3f} / {detail[x]['roc_auc']:.3f}" for x in langs]
        cells = [name, training, *cost, f"{m['f1']:.3f}", f"{m['roc_auc']:.3f}", *per_lang]
        return "| " + " | ".join(cells) + " |"

    detail = first["metrics"]["by_language_detail"]
    all_pos = [f"{detail[x]['baseline_all_positive_f1']:.3f} / –" for x in langs]
    lines.append(
        "| all-positive | – | – | – | – | "
        f"{first['metrics']['baseline_all_positive_f1']:.3f} | 0.500 | " + " | ".join(all_pos) + " |"
    )
    if baseline:
        lines.append(
            row(
                "TF-IDF + LR",
                "char 1-4 n-grams",
                [f"{baseline['seconds']:.0f} s", "–", "–"],
                baseline["metrics"],
            )
        )
    for r in runs.values():
        cost = [f"{r['wall_s'] / 60:.1f} min", f"{r['cpu_s'] / 60:.1f} min", f"{r['peak_rss_gib']:.2f} GiB"]
        lines.append(row(r["base"], f"{r['method']}, {r['pairs_seen']:,} pairs", cost, r["metrics"]))
    n = first["metrics"]["n"]
    note = (
        f"\nHeld out: fold(s) {first['scored_folds']} of {first['folds']} category-aware folds (seed "
        f"{first['seed']}), {n:,} pairs of `{first['data']}`; F1 at the threshold tuned on those scores.\n"
    )
    return "\n".join(lines) + "\n" + note


def save(path: Path, results: dict) -> None:
    from models.io import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, results)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {"runs": {}}
    if not args.report_only:
        for path in args.configs:
            if path.stem in results["runs"] and not args.force:
                print(f"== {path}: already measured (--force reruns it)", flush=True)
                continue
            print(f"== {path}", flush=True)
            cost = run_config(path)
            results["runs"][path.stem] = {**run_metrics(path), **cost}
            save(args.out, results)
        first = next(iter(results["runs"].values()))
        scratch = args.out.with_name("tfidf_" + args.out.name)
        results["tfidf"] = tfidf(first["data"], first["folds"], first["seed"], first["scored_folds"], scratch)
        save(args.out, results)
    text = table(results)
    print(text)
    if args.update:
        try:
            update_sections(args.update, {"bases": text})
        except ValueError as exc:
            print(f"error: {args.update}: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
