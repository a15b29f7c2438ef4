"""Ablations of the QC fine-tuning recipe on the shared data: one change at a time, same folds, same rows.

    .venv/bin/python -m bench.quality_ablation                       # every variant, fold 0 of 5, all rows
    .venv/bin/python -m bench.quality_ablation --variants base,lora --only-folds 0,1
    .venv/bin/python -m bench.quality_ablation --variants cross_task --qi-data qi_train.csv

The protocol is the pipeline's and the bases comparison's (docs/bases.md): `training.splits.make_folds`
(5 category-aware group folds, seed 42) on all rows; the listed folds are held out in turn, each trained
with `training.finetune.finetune` (HF Trainer + peft) on every other row and scored once per epoch; one
threshold tuned on the held-out scores; F1 / ROC-AUC per language from `training.evaluate`. TF-IDF + LR
is run on the same folds. `epochs3` is scored after each epoch: with a constant learning rate, its
epoch n is exactly an n-epoch run. The results JSON is rewritten after every variant, so an interrupted
run keeps what finished and a rerun skips it.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.tfidf_baseline import DEFAULT_DATA, fold_scores

ROOT = Path(__file__).resolve().parents[1]

BASE = {
    "base_model": "minilm",
    "max_length": 64,
    "full_finetune": True,
    "learning_rate": 1e-4,
    "lr_scheduler": "constant",
    "epochs": 1,
    "batch_size": 32,
    "eval_batch_size": 128,
    "logging_steps": 25,
    "save_total_limit": 1,
    "seed": 42,
}
LORA = {"r": 16, "alpha": 32, "dropout": 0.01, "target_modules": "all-linear"}
VARIANTS: dict[str, tuple[str, dict]] = {
    "base": ("MiniLM, full fine-tune, lr 1e-4 constant, 1 epoch, max_length 64 (bases.md's recipe)", {}),
    "lora": (
        "LoRA r16 / α32 on every linear layer, lr 5e-4 (shared_qc_cpu's recipe)",
        {"full_finetune": False, "lora": LORA, "learning_rate": 5e-4},
    ),
    "epochs3": ("3 epochs, scored after each", {"epochs": 3}),
    "maxlen32": ("max_length 32 (long category paths cut from the left)", {"max_length": 32}),
    "cross_task": ("fine-tuned on QI first (`--qi-data`), then on QC: the paper's cross-task step", {}),
    "gemma_lora": (
        "gemma-3-270m, LoRA r16 / α32, lr 1e-4, batch 16 (bases.md's best base, all training rows)",
        {
            "base_model": "gemma-3-270m",
            "full_finetune": False,
            "lora": LORA,
            "batch_size": 16,
            "eval_batch_size": 64,
            "save_dtype": "bfloat16",
        },
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality_ablation",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA["qc"], help="labelled QC file")
    parser.add_argument("--qi-data", type=Path, help="labelled QI file for the cross_task variant")
    parser.add_argument("--folds", type=int, default=5, help="group CV folds")
    parser.add_argument(
        "--only-folds", default="0", help="comma-separated folds held out in turn ('' = every fold)"
    )
    parser.add_argument("--seed", type=int, default=42, help="fold seed")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated from {','.join(VARIANTS)}"
    )
    parser.add_argument("--base-model", help="replace MiniLM as the base of every variant but gemma_lora")
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


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pretrain_on_qi(qi_data: Path, fields: dict, work: Path, held: list) -> Path:
    """Fine-tune on the QI rows whose queries are not in `held` (a QC fold's held-out rows), merge: that
    fold's model starts from it (as `pretrain_data:` does)."""
    from models import Task
    from training.config import TrainConfig
    from training.data import load_examples
    from training.finetune import finetune
    from training.merge import export_merged
    from training.splits import drop_held_out_queries

    rows, report = load_examples(qi_data, task=Task.QI)
    rows = drop_held_out_queries(rows, held)
    print(f"cross_task: {report.summary()}; {len(rows)} rows without a held-out query", flush=True)
    config = TrainConfig.model_validate({**fields, "tasks": ["qi"], "epochs": 1})
    result = finetune(train=rows, eval=None, config=config, output_dir=work / "qi")
    export_merged(model_dir=result.model_dir, dest=work / "qi-merged")
    return work / "qi-merged"


def run_variant(
    name: str,
    *,
    fields: dict,
    examples: list,
    folds: np.ndarray,
    held_out: list[int],
    qi_data: Path | None,
    score: Callable[[np.ndarray], dict],
) -> dict:
    """Train the held-out folds with `fields`; metrics on their rows, per epoch when there are several."""
    from training.config import TrainConfig
    from training.finetune import finetune

    started, cpu = time.perf_counter(), _cpu_seconds()
    epochs = math.ceil(fields["epochs"])
    by_epoch = [np.full(len(examples), np.nan) for _ in range(epochs)]
    with tempfile.TemporaryDirectory(prefix=f"ablation-{name}-") as tmp:
        for k in held_out:
            train = [e for e, f in zip(examples, folds, strict=True) if f != k]
            held = [e for e, f in zip(examples, folds, strict=True) if f == k]
            work = Path(tmp) / f"pretrain{k}"
            init_from = _pretrain_on_qi(qi_data, fields, work, held) if name == "cross_task" else None
            steps_per_epoch = math.ceil(len(train) / fields["batch_size"])
            config = TrainConfig.model_validate({**fields, "tasks": ["qc"], "eval_steps": steps_per_epoch})
            result = finetune(
                train=train, eval=held, config=config, output_dir=Path(tmp) / f"fold{k}", init_from=init_from
            )
            steps = sorted(result.eval_scores_by_step)
            if len(steps) != epochs:
                raise RuntimeError(f"{name}: expected {epochs} evaluations, got steps {steps}")
            for epoch, step in enumerate(steps):
                by_epoch[epoch][folds == k] = result.eval_scores_by_step[step]
    res = score(by_epoch[-1])
    if epochs > 1:
        res["by_epoch"] = [score(scores) for scores in by_epoch]
    res.update(
        {
            "fields": fields,
            "seconds": round(time.perf_counter() - started),
            "cpu_seconds": round(_cpu_seconds() - cpu),
        }
    )
    return res


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        print(f"error: unknown variants {unknown}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    for label, path in (("data", args.data), ("QI data", args.qi_data)):
        if path is not None and not path.is_file():
            print(f"error: {label} file {path} not found", file=sys.stderr)
            return 2
    try:
        held_out = sorted({int(x) for x in args.only_folds.split(",") if x.strip()})
    except ValueError:
        print(f"error: --only-folds expects fold numbers, got {args.only_folds!r}", file=sys.stderr)
        return 2
    held_out = held_out or list(range(args.folds))
    if not all(0 <= k < args.folds for k in held_out):
        print(f"error: --only-folds {held_out} must lie in 0..{args.folds - 1}", file=sys.stderr)
        return 2
    import torch

    from models import Task
    from models.io import atomic_write_json
    from training.data import load_examples
    from training.splits import make_folds

    if args.threads:
        torch.set_num_threads(args.threads)
    examples, _ = load_examples(args.data, task=Task.QC)
    folds = np.asarray(make_folds(examples, n_folds=args.folds, seed=args.seed))
    mask = np.isin(folds, held_out)
    labels = np.asarray([e.label for e in examples])
    languages = [e.language for e in examples]

    held_languages = [lang for lang, held in zip(languages, mask, strict=True) if held]

    def score(scores: np.ndarray) -> dict:
        return evaluate(labels[mask], scores[mask], held_languages)

    setup = {"data": str(args.data), "rows": len(examples), "folds": args.folds, "seed": args.seed}
    out: dict = {
        **setup,
        "held_out_folds": held_out,
        "held_out_rows": int(mask.sum()),
        "positive_rate": float(labels[mask].mean()),
        "torch_threads": torch.get_num_threads(),
        "variants": {},
    }
    if args.out.is_file():  # keep variants finished by an earlier (interrupted) run of the same setup
        old = json.loads(args.out.read_text())
        if {k: old.get(k) for k in setup} == setup and old.get("held_out_folds") == held_out:
            out["variants"] = old.get("variants", {})

    def save() -> None:
        atomic_write_json(args.out, out, indent=1)

    out["tfidf"] = score(fold_scores(examples, folds, held_out))
    print(f"tfidf+LR      F1 {out['tfidf']['f1']:.4f}  AUC {out['tfidf']['roc_auc']:.4f}", flush=True)
    save()
    for name in names:
        summary, overrides = VARIANTS[name]
        if name in out["variants"]:
            print(f"{name:<12} (done earlier) F1 {out['variants'][name]['f1']:.4f}", flush=True)
            continue
        if name == "cross_task" and args.qi_data is None:
            print("cross_task   skipped: it needs labelled QI data (--qi-data)", flush=True)
            continue
        fields = {**BASE, **({"base_model": args.base_model} if args.base_model else {}), **overrides}
        res = run_variant(
            name,
            fields=fields,
            examples=examples,
            folds=folds,
            held_out=held_out,
            qi_data=args.qi_data,
            score=score,
        )
        out["variants"][name] = {"summary": summary, **res}
        save()
        print(
            f"{name:<12} F1 {res['f1']:.4f}  AUC {res['roc_auc']:.4f}  ({res['seconds']}s)  {summary}",
            flush=True,
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
