"""Two bi-encoder head runs on the same rows and folds, compared pair by pair: ROC-AUC overall, per language
and on a group of languages, with a paired bootstrap interval of the difference.

    python -m bench.compare_heads --a training/configs/head/qc_embeddinggemma.yaml \
        --b training/configs/head/qc_embeddinggemma_apertium.yaml --group es,fr,it,pt \
        --out docs/results/compare_qc_apertium.json

Reads the out-of-fold scores each run saved (`training head` first); computes nothing but metrics. The
bootstrap resamples rows (the same rows for both runs), so the interval is of B - A on these data.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training.head import HeadRunConfig, load_head_config, oof_path


def oof_scores(config: HeadRunConfig, n_rows: int, folds: np.ndarray) -> np.ndarray:
    """The run's saved out-of-fold scores in row order; an unscored fold is an error."""
    scores = np.full(n_rows, np.nan)
    for k in range(config.folds):
        saved = oof_path(config, k)
        if not saved.is_file():
            raise FileNotFoundError(
                f"{saved} not found: run `python -m training head` on {config.name} first"
            )
        scores[folds == k] = np.load(saved)
    return scores


def paired_auc(labels: np.ndarray, a: np.ndarray, b: np.ndarray, *, rounds: int, seed: int) -> dict[str, Any]:
    """AUC of a and b on the same rows, B - A, and its 95 % paired bootstrap interval."""
    from sklearn.metrics import roc_auc_score

    if labels.min() == labels.max():  # one class only (a small language): no AUC to compare
        return {"n": len(labels), "auc_a": None, "auc_b": None, "delta": None, "ci95": None}
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(rounds):
        rows = rng.integers(0, len(labels), len(labels))
        if labels[rows].min() == labels[rows].max():
            continue
        deltas.append(roc_auc_score(labels[rows], b[rows]) - roc_auc_score(labels[rows], a[rows]))
    auc_a, auc_b = roc_auc_score(labels, a), roc_auc_score(labels, b)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {
        "n": len(labels),
        "auc_a": round(auc_a, 4),
        "auc_b": round(auc_b, 4),
        "delta": round(auc_b - auc_a, 4),
        "ci95": [round(float(low), 4), round(float(high), 4)],
    }


def compare(a: HeadRunConfig, b: HeadRunConfig, *, groups: dict[str, list[str]], rounds: int) -> dict:
    from training.data import load_examples
    from training.splits import make_folds

    if (a.data, a.task, a.folds, a.seed) != (b.data, b.task, b.folds, b.seed):
        raise ValueError("the two runs must read the same data with the same folds")
    examples, _ = load_examples(a.data, task=a.task)
    folds = np.asarray(make_folds(examples, n_folds=a.folds, seed=a.seed))
    labels = np.asarray([e.label for e in examples])
    languages = np.asarray([e.language for e in examples])
    sa, sb = oof_scores(a, len(examples), folds), oof_scores(b, len(examples), folds)
    subsets = {"all": np.ones(len(examples), bool)}
    subsets |= {name: np.isin(languages, members) for name, members in groups.items()}
    subsets |= {lang: languages == lang for lang in sorted(set(languages.tolist()))}
    return {
        "a": a.name,
        "b": b.name,
        "rows": {
            name: paired_auc(labels[rows], sa[rows], sb[rows], rounds=rounds, seed=0)
            for name, rows in subsets.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", type=Path, required=True, help="head config of the reference run")
    parser.add_argument("--b", type=Path, required=True, help="head config of the run compared with it")
    parser.add_argument(
        "--group", action="append", default=[], help="languages pooled as one row, e.g. es,fr"
    )
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds")
    parser.add_argument("--out", type=Path, help="write the comparison (JSON) here")
    args = parser.parse_args(argv)
    groups = {g: [lang.strip() for lang in g.split(",") if lang.strip()] for g in args.group}
    result = compare(load_head_config(args.a), load_head_config(args.b), groups=groups, rounds=args.rounds)
    result["command"] = "python -m bench.compare_heads " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    print(f"{'rows':<14}{'n':>7}{'AUC ' + result['a']:>34}{'AUC ' + result['b']:>42}{'B-A':>8}  95% CI")
    for name, row in result["rows"].items():
        if row["delta"] is None:
            print(f"{name:<14}{row['n']:>7}  one class only: no AUC")
            continue
        print(
            f"{name:<14}{row['n']:>7}{row['auc_a']:>34}{row['auc_b']:>42}{row['delta']:>+8.4f}  "
            f"[{row['ci95'][0]:+.4f}, {row['ci95'][1]:+.4f}]"
        )
    if args.out:
        from models.io import atomic_write_json

        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
