"""Small, honest ablations of the QC fine-tuning recipe on a subsample of the shared data.

    .venv/bin/python -m bench.quality_ablation                          # all variants, 3000 rows, 3 folds
    .venv/bin/python -m bench.quality_ablation --variants lora,full --rows 2000 --folds 3

Each variant runs the pipeline's own pieces: `training.splits.make_folds` (category-aware group CV) on the
subsample, `training.finetune.finetune` per fold (HF Trainer + peft), out-of-fold scores, threshold tuned
on them and metrics from `training.evaluate` — the full pipeline at a size 2 shared CPU cores finish in
minutes. The TF-IDF + LR baseline is run on the same subsample and folds. Every variant changes one
thing from `base` (the `training/configs/shared_qc_cpu.yaml` recipe, 1 epoch). Results JSON is
rewritten after every variant, so an interrupted run keeps what finished.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.tfidf_baseline import DEFAULT_DATA, features  # noqa: E402

BASE = {
    "base_model": "minilm",
    "max_length": 64,
    "lora": {"r": 16, "alpha": 32, "dropout": 0.01, "target_modules": "all-linear"},
    "learning_rate": 5e-4,
    "lr_scheduler": "constant",
    "epochs": 1,
    "batch_size": 32,
    "eval_batch_size": 128,
    "logging_steps": 25,
    "save_total_limit": 1,
    "seed": 42,
}
VARIANTS: dict[str, tuple[str, dict]] = {
    "base": ("LoRA r16, lr 5e-4 constant, 1 epoch, max_length 64 (shared_qc_cpu recipe)", {}),
    "full": (
        "full fine-tune, lr 5e-5 linear + 6% warm-up",
        {"full_finetune": True, "learning_rate": 5e-5, "lr_scheduler": "linear", "warmup_ratio": 0.06},
    ),
    "epochs2": ("LoRA, 2 epochs", {"epochs": 2}),
    "maxlen32": ("LoRA, max_length 32 (long category paths cut from the left)", {"max_length": 32}),
    "paper_lr": ("LoRA, lr 1e-5 (the paper's 12B learning rate)", {"learning_rate": 1e-5}),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality_ablation",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled QC file")
    parser.add_argument("--rows", type=int, default=3000, help="random subsample size (0 = all rows)")
    parser.add_argument("--folds", type=int, default=3, help="group CV folds on the subsample")
    parser.add_argument("--seed", type=int, default=42, help="subsample and fold seed")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated from {','.join(VARIANTS)}"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "quality_ablation.json")
    return parser


def evaluate(labels, scores, languages) -> dict:
    from training.evaluate import compute_metrics, tune_threshold

    threshold = tune_threshold(labels, scores)
    m = compute_metrics(labels=labels, scores=scores, languages=languages, threshold=threshold).model_dump()
    return {
        "threshold": threshold,
        "f1": m["f1"],
        "roc_auc": m["roc_auc"],
        "f1_at_0_5": m["f1_at_0_5"],
        "baseline_all_positive_f1": m["baseline_all_positive_f1"],
        "by_language": m["by_language"],
        "roc_auc_by_language": {k: v["roc_auc"] for k, v in m["by_language_detail"].items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        print(f"error: unknown variants {unknown}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    if not args.data.is_file():
        print(f"error: data file {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    import torch
    from sklearn.linear_model import LogisticRegression

    from models import Task
    from training.data import load_examples
    from training.finetune import TrainConfig, finetune
    from training.splits import make_folds

    if args.threads:
        torch.set_num_threads(args.threads)
    examples, _ = load_examples(args.data, task=Task.QC)
    if args.rows and args.rows < len(examples):
        examples = random.Random(args.seed).sample(examples, args.rows)
    folds = np.asarray(make_folds(examples, n_folds=args.folds, seed=args.seed))
    labels = np.asarray([e.label for e in examples])
    languages = [e.language for e in examples]
    out: dict = {
        "data": str(args.data),
        "rows": len(examples),
        "folds": args.folds,
        "seed": args.seed,
        "base": BASE,
        "positive_rate": float(labels.mean()),
        "variants": {},
    }
    if args.out.is_file():  # keep variants finished by an earlier (interrupted) run of the same setup
        old = json.loads(args.out.read_text())
        if (old.get("rows"), old.get("folds"), old.get("seed")) == (len(examples), args.folds, args.seed):
            out["variants"] = old.get("variants", {})

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        tmp.replace(args.out)

    # TF-IDF baseline on the same rows and folds
    queries = np.asarray([e.query for e in examples], dtype=object)
    cats = np.asarray([e.target for e in examples], dtype=object)
    oof = np.empty(len(examples))
    for k in range(args.folds):
        test = folds == k
        x_tr, x_te = features(
            queries[~test], cats[~test], queries[test], cats[test], ngram=(1, 4), max_features=200_000
        )
        clf = LogisticRegression(C=4.0, max_iter=2000, solver="liblinear").fit(x_tr, labels[~test])
        oof[test] = clf.predict_proba(x_te)[:, 1]
    out["tfidf"] = evaluate(labels, oof, languages)
    print(f"tfidf+LR      F1 {out['tfidf']['f1']:.4f}  AUC {out['tfidf']['roc_auc']:.4f}", flush=True)
    save()

    for name in names:
        if name in out["variants"]:
            print(f"{name:<12} (done earlier) F1 {out['variants'][name]['f1']:.4f}", flush=True)
            continue
        summary, overrides = VARIANTS[name]
        fields = {**BASE, **overrides}
        started = time.perf_counter()
        oof = np.full(len(examples), np.nan)
        for k in range(args.folds):
            train = [e for e, f in zip(examples, folds, strict=True) if f != k]
            held = [e for e, f in zip(examples, folds, strict=True) if f == k]
            steps_per_epoch = math.ceil(len(train) / fields["batch_size"])
            config = TrainConfig.model_validate({**fields, "tasks": ["qc"], "eval_steps": steps_per_epoch})
            with tempfile.TemporaryDirectory(prefix=f"ablation-{name}-") as tmp:
                result = finetune(train=train, eval=held, config=config, output_dir=Path(tmp))
            oof[folds == k] = result.eval_scores
        res = evaluate(labels, oof, languages)
        res.update(
            {"summary": summary, "overrides": overrides, "seconds": round(time.perf_counter() - started)}
        )
        out["variants"][name] = res
        save()
        print(
            f"{name:<12} F1 {res['f1']:.4f}  AUC {res['roc_auc']:.4f}  ({res['seconds']}s)  {summary}",
            flush=True,
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
