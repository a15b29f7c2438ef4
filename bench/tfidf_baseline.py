"""TF-IDF + logistic regression baseline for QC or QI relevance, on the same folds as the training pipeline.

    .venv/bin/python -m bench.tfidf_baseline                     # shared QC data, 5 folds, seed 42
    .venv/bin/python -m bench.tfidf_baseline --task qi           # shared QI data (Home Depot), query folds
    .venv/bin/python -m bench.tfidf_baseline --folds 3 --out docs/results/tfidf_baseline.json

Features (all char n-grams, which suit queries in ten languages and scripts):
  - the query's TF-IDF vector and the category path's TF-IDF vector (priors: "this category is usually
    relevant", "this query is vague");
  - their element-wise product over one shared vocabulary (which n-grams the query and category *share*:
    the only interaction a linear model can see) and its sum (cosine similarity).
The vectorisers are fitted on the training folds only. Out-of-fold scores are evaluated with
`training.evaluate` exactly as the pipeline evaluates a model: threshold tuned on the OOF scores,
positive-class F1 and ROC-AUC overall and per language, against the all-positive baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


SHARED = ROOT.parent / "shared" / "data"
DEFAULT_DATA = {"qc": SHARED / "qc_train_confluentia.csv", "qi": SHARED / "qi_train_homedepot.csv"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(DEFAULT_DATA), default="qc", help="task (default qc)")
    parser.add_argument("--data", type=Path, help="labelled file (default: the shared data of --task)")
    parser.add_argument("--folds", type=int, default=5, help="StratifiedGroupKFold folds (as the pipeline)")
    parser.add_argument("--seed", type=int, default=42, help="fold seed (the pipeline's default is 42)")
    parser.add_argument(
        "--only-folds",
        type=lambda v: [int(x) for x in v.split(",")],
        default=None,
        help="comma-separated folds to score (as a run config's cv.only_folds); default: all",
    )
    parser.add_argument("--ngram-min", type=int, default=1, help="smallest char n-gram")
    parser.add_argument("--ngram-max", type=int, default=4, help="largest char n-gram")
    parser.add_argument("--max-features", type=int, default=200_000, help="vocabulary cap per vectoriser")
    parser.add_argument("--C", type=float, default=4.0, help="inverse L2 strength of the logistic regression")
    parser.add_argument(
        "--out", type=Path, help="results JSON (default: docs/results/tfidf_baseline[_qi].json)"
    )
    return parser


def features(train_q, train_c, test_q, test_c, *, ngram: tuple[int, int], max_features: int):
    """Fit on the training fold, transform both; returns sparse design matrices."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    def vec() -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=ngram,
            lowercase=True,
            sublinear_tf=True,
            max_features=max_features,
            min_df=2,
            dtype=np.float32,
        )

    q_vec, c_vec, shared = vec(), vec(), vec()
    q_vec.fit(train_q)
    c_vec.fit(train_c)
    shared.fit(list(train_q) + list(train_c))

    def design(queries, categories):
        sq, sc = shared.transform(queries), shared.transform(categories)
        overlap = sq.multiply(sc).tocsr()
        cosine = sp.csr_matrix(np.asarray(overlap.sum(axis=1)))
        return sp.hstack([q_vec.transform(queries), c_vec.transform(categories), overlap, cosine]).tocsr()

    return design(train_q, train_c), design(test_q, test_c)


def fold_scores(
    examples: list,
    folds: np.ndarray,
    scored_folds: list[int],
    *,
    ngram: tuple[int, int] = (1, 4),
    max_features: int = 200_000,
    C: float = 4.0,
    progress: bool = False,
) -> np.ndarray:
    """Out-of-fold relevance scores: each scored fold by a model fitted on the other folds (NaN elsewhere)."""
    from sklearn.linear_model import LogisticRegression
    from tqdm.auto import tqdm

    queries = np.asarray([e.query for e in examples], dtype=object)
    cats = np.asarray([e.target for e in examples], dtype=object)
    labels = np.asarray([e.label for e in examples], dtype=int)
    oof = np.full(len(examples), np.nan)
    for fold in tqdm(scored_folds, desc="folds", disable=not progress):
        test = folds == fold
        x_train, x_test = features(
            queries[~test], cats[~test], queries[test], cats[test], ngram=ngram, max_features=max_features
        )
        clf = LogisticRegression(C=C, max_iter=2000, solver="liblinear").fit(x_train, labels[~test])
        oof[test] = clf.predict_proba(x_test)[:, 1]
    return oof


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from models import Task
    from models.io import atomic_write_json
    from training.data import load_examples
    from training.evaluate import compute_metrics, tune_threshold
    from training.splits import make_folds

    args.data = args.data or DEFAULT_DATA[args.task]
    if args.out is None:
        suffix = "" if args.task == "qc" else f"_{args.task}"
        args.out = ROOT / "docs" / "results" / f"tfidf_baseline{suffix}.json"
    if not args.data.is_file():
        print(f"error: data file {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    examples, _ = load_examples(args.data, task=Task(args.task))
    folds = np.asarray(make_folds(examples, n_folds=args.folds, seed=args.seed))
    labels = np.asarray([e.label for e in examples], dtype=int)
    languages = [e.language for e in examples]

    scored_folds = args.only_folds if args.only_folds is not None else list(range(args.folds))
    if any(not 0 <= k < args.folds for k in scored_folds):
        print(f"error: --only-folds {scored_folds} must be in 0..{args.folds - 1}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    oof = fold_scores(
        examples,
        folds,
        scored_folds,
        ngram=(args.ngram_min, args.ngram_max),
        max_features=args.max_features,
        C=args.C,
        progress=True,
    )
    elapsed = time.perf_counter() - started

    scored = np.isin(folds, scored_folds)
    labels, oof = labels[scored], oof[scored]
    languages = [lang for lang, ok in zip(languages, scored, strict=True) if ok]
    threshold = tune_threshold(labels, oof)
    metrics = compute_metrics(labels=labels, scores=oof, languages=languages, threshold=threshold)
    result = {
        "system": "tfidf-char-lr",
        "task": args.task,
        "data": str(args.data),
        "n": int(scored.sum()),
        "folds": args.folds,
        "scored_folds": scored_folds,
        "seed": args.seed,
        "params": {"ngram": [args.ngram_min, args.ngram_max], "max_features": args.max_features, "C": args.C},
        "threshold_from_oof": threshold,
        "seconds": round(elapsed, 1),
        "metrics": metrics.model_dump(),
    }
    atomic_write_json(args.out, result)

    detail = metrics.model_dump()["by_language_detail"]
    print(
        f"TF-IDF char({args.ngram_min}-{args.ngram_max}) + LR, {args.folds}-fold group CV "
        f"(folds scored: {scored_folds}), n={int(scored.sum())}, "
        f"{elapsed:.0f}s"
    )
    print(
        f"threshold (OOF-tuned) {threshold:.3f}  F1 {metrics.f1:.4f}  ROC-AUC {metrics.roc_auc:.4f}  "
        f"all-positive F1 {metrics.model_dump()['baseline_all_positive_f1']:.4f}"
    )
    print(f"{'lang':<6}{'n':>6}{'F1':>8}{'AUC':>8}{'all+F1':>8}")
    for lang, d in detail.items():
        print(
            f"{lang:<6}{d['n']:>6}{d['f1']:>8.4f}{(d['roc_auc'] or float('nan')):>8.4f}"
            f"{d['baseline_all_positive_f1']:>8.4f}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
