"""`python -m training run --config FILE.yaml`: the whole recipe from data files to a published checkpoint.

    load data -> (translate) -> group folds -> (cross-task pre-training) -> per fold: fine-tune on the
    other folds, score the held-out fold -> out-of-fold (OOF) scores -> tuned thresholds, metrics, report
    -> final model -> merge -> checkpoint with card in the model store

Each stage is a small function (the cross-validation stages are in `training.cv`); `run` composes them.
Everything a stage produces lives under `work_dir` and a rerun picks up where the last one stopped: saved
folds are reused (and checked against the data), a finished fold is not retrained, an interrupted fold
resumes from its last Trainer checkpoint.

Cross-task pre-training runs once per fold, on the partner task's rows less those sharing a query with
the held-out fold (`splits.drop_held_out_queries`), and once on all of them for the final model.

The final model (`final:`):
- `retrain` (default): one model trained on ALL the data with the fold models' schedule: the configured
  epochs, or `max_steps` scaled by all-data size / fold-train size (the same passes over the data),
  published as `<name>`. Thresholds and metrics in its card are the OOF ones, an honest estimate for a
  model trained the same way; the card's `threshold_protocol` and `training.final_schedule` say so.
- `fold_average`: the paper's ensemble. Every fold model is published as `<name>-fold<k>`, and
  `predict --checkpoint <name>-fold0 --checkpoint <name>-fold1 ...` averages their probabilities. No
  extra training; serving one fold model alone is also valid (its card has the same OOF thresholds).

Relative paths in the YAML are taken from the current directory (run from the repository root).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import ModelStore, Task, TaskMetrics
from models.io import atomic_write_text
from training.config import CONFIG_HELP, RunConfig, load_run_config, translation_name
from training.cv import CVOutcome, OOFEvaluation, assign_folds, cross_validate, evaluate_oof
from training.data import Example, fingerprint, load_examples
from training.evaluate import write_predictions
from training.finetune import FINAL_DIRNAME, META_FILENAME, FinetuneResult, finetune
from training.merge import export_merged, merge_to_checkpoint
from training.report import write_report
from training.splits import drop_held_out_queries
from training.translate import (
    CachedTranslator,
    PreTranslated,
    add_translations,
    engine_name,
    engine_translator,
    overwrites,
)
from training.workdir import on_main_process, prepare_dir

log = logging.getLogger(__name__)

CHECK_EXAMPLES = 64  # pairs the merge check compares adapter and merged scores on


# ---------------------------------------------------------------------------------------------------
# Stages


def load_data(config: RunConfig) -> list[Example]:
    """Every task's labelled examples, task by task in name order (the order folds and OOF scores refer
    to)."""
    examples: list[Example] = []
    for task in sorted(config.tasks):
        rows, report = load_examples(config.data[task], task=task, on_error=config.data_on_error)
        log.info("data %s:\n%s", task.value, report.summary())
        examples.extend(rows)
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("example ids repeat across the data files; ids must be unique within a run")
    return examples


def translate(config: RunConfig, examples: list[Example]) -> list[Example]:
    """Fill `query_en` as the config says (the model then sees "<query> - <translation>")."""
    if config.translation == "none":
        return examples
    if config.translation == "column":
        return add_translations(examples, PreTranslated.from_examples(examples))
    spec = config.translation
    overwrite = overwrites(spec)
    if spec.cache is None:  # Apertium only: a seq2seq engine must have one
        # No file to hand translations over, and none needed: Apertium translates each text as it would
        # alone, so every process computes the same query_en itself, in seconds even on the full data.
        return add_translations(examples, engine_translator(spec), overwrite=overwrite)

    def fill_cache() -> None:
        add_translations(examples, engine_translator(spec), overwrite=overwrite)

    # One engine and one writer: with several processes each would load the MT model and append the same
    # lines to the one cache file. The others wait, then every process reads all it needs from the cache
    # (under the engine's name, known without loading it).
    on_main_process(fill_cache)
    cached = CachedTranslator(CacheOnly(), spec.cache, model_name=engine_name(spec))
    return add_translations(examples, cached, overwrite=overwrite)


class CacheOnly:
    """The translator behind a cache the main process has just filled: it is never asked."""

    def translate(self, texts: Sequence[str], *, source_languages: Sequence[str] | None = None) -> list[str]:
        raise RuntimeError(f"{len(texts)} queries are missing from the translation cache")


def load_pretrain_rows(config: RunConfig) -> list[Example] | None:
    """The partner task's rows for cross-task pre-training (None when the run does none), translated."""
    if config.pretrain_data is None:
        return None
    task = config.pretrain_config().tasks[0]
    rows, report = load_examples(config.pretrain_data, task=task, on_error=config.data_on_error)
    log.info("pre-training data:\n%s", report.summary())
    return translate(config, rows)


@dataclass(frozen=True)
class Pretraining:
    """Cross-task pre-training: fine-tune on the partner task's rows, merge; a fold or the final model
    starts from it. Its identity (rows and settings) is known at once, the model is trained on first use."""

    config: RunConfig
    rows: list[Example]
    name: str

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "data": fingerprint(self.rows),
            "train": self.config.pretrain_config().model_dump(mode="json"),
        }

    def path(self) -> Path:
        work = self.config.work_dir / self.name
        prepare_dir(work, self.identity)
        merged = work / "merged"
        if (merged / "config.json").is_file():
            log.info("reusing the cross-task pre-trained model %s", merged)
            return merged
        pre_config = self.config.pretrain_config()
        result = finetune(train=self.rows, eval=None, config=pre_config, output_dir=work, resume=True)
        on_main_process(export_merged, model_dir=result.model_dir, dest=merged)
        return merged


def pretrain(
    config: RunConfig,
    rows: list[Example] | None,
    held_out: Sequence[Example] = (),
    *,
    name: str = "pretrain",
) -> Pretraining | None:
    """The cross-task pre-training on the partner task's `rows`, less those sharing a query with
    `held_out` (a fold's held-out rows; none for the final model)."""
    if rows is None:
        return None
    kept = drop_held_out_queries(rows, held_out)
    if not kept:
        raise ValueError(
            f"{name}: all {len(rows)} pre-training rows share a query with the held-out fold; "
            "nothing is left to pre-train on"
        )
    if held_out:
        log.info("%s: %d of %d rows (the others share a held-out query)", name, len(kept), len(rows))
    return Pretraining(config=config, rows=kept, name=name)


def write_run_report(
    config: RunConfig,
    evaluation: OOFEvaluation | None,
    cv: CVOutcome | None,
    extra: dict[str, Any],
    *,
    report: bool = True,
) -> None:
    """`report.md` + plots (training.report) and the OOF predictions (when `report`), and `run.json`."""
    method = "full fine-tuning" if config.train.full_finetune else f"LoRA r={config.train.lora.r}"
    translation = translation_name(config.translation)
    lines = [
        f"Run `{config.name}`: tasks {', '.join(t.value for t in config.tasks)}, "
        f"base `{config.train.base_model}`, {method}, translation {translation}, "
        f"cross-task pre-training {'on' if config.pretrain_data else 'off'}, final `{config.final}`."
    ]
    if cv and config.cv.only_folds is not None:
        lines.append(
            f"Only fold(s) {config.cv.only_folds} of {config.cv.folds} trained and scored (cv.only_folds): "
            "thresholds and metrics are from their held-out examples only."
        )
    for f in cv.folds if cv else []:
        lines.append(
            f"Fold {f.fold}: scored at its last step, {f.total_steps}; held-out F1 by step (a learning "
            f"curve, no step chosen on it) {f.history}"
        )
    if evaluation is not None and report:
        # write_report replaces report_dir as a whole, so it goes first.
        title = f"{config.name}: out-of-fold evaluation"
        write_report(config.report_dir, title=title, results=evaluation.results, notes="\n".join(lines))
        write_predictions(config.report_dir / "oof_predictions.jsonl", evaluation.predictions)
    doc = {
        "config": config.model_dump(mode="json"),
        "thresholds": {t.value: v for t, v in (evaluation.thresholds if evaluation else {}).items()},
        "threshold_protocol": evaluation.protocol if evaluation else None,
        "metrics": {t.value: m.model_dump() for t, m in (evaluation.metrics if evaluation else {}).items()},
        "folds": [f.__dict__ for f in cv.folds] if cv else [],
        "peak_rss_gib": round(peak_rss_bytes() / 2**30, 2),
        **extra,
    }
    atomic_write_text(config.report_dir / "run.json", json.dumps(doc, indent=2, default=str) + "\n")


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB, macOS in bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def final_steps(config: RunConfig, cv: CVOutcome | None, n_all: int) -> tuple[int | None, str]:
    """The all-data model's schedule, the fold models' own in passes over the data (None: the configured
    epochs, which are that already), and the sentence the card states it in."""
    train = config.train
    if train.max_steps is None:
        return None, f"{train.epochs:g} epoch(s) over all {n_all} rows" + (
            ", as each fold model over its training rows" if cv else ""
        )
    if cv is None:
        return train.max_steps, f"max_steps {train.max_steps} as configured (no cross-validation)"
    fold_rows = float(np.mean([f.train_size for f in cv.folds]))
    steps = max(1, round(train.max_steps * n_all / fold_rows))
    return steps, (
        f"{steps} steps = max_steps {train.max_steps} x {n_all} rows / {fold_rows:.0f} fold-training rows: "
        "the fold models' passes over the data"
    )


def train_final(
    config: RunConfig, examples: list[Example], steps: int | None, start: Pretraining | None
) -> FinetuneResult:
    final_config = config.train if steps is None else config.train.model_copy(update={"max_steps": steps})
    identity = {
        "data": fingerprint(examples),
        "train": final_config.model_dump(mode="json"),
        "init_from": start.identity if start else None,
    }
    work = config.work_dir / "final"
    prepare_dir(work, identity)
    done = work / FINAL_DIRNAME / META_FILENAME  # written when fine-tuning has finished
    if done.is_file():
        meta = json.loads(done.read_text(encoding="utf-8"))
        log.info("final model already trained (%s)", done.parent)
        return FinetuneResult(model_dir=done.parent, total_steps=meta["total_steps"])
    log.info(
        "final model: %d examples, %s", len(examples), f"{steps} steps" if steps else "configured epochs"
    )
    return finetune(
        train=examples,
        eval=None,
        config=final_config,
        output_dir=config.work_dir / "final",
        init_from=start.path() if start else None,
        resume=True,
    )


def prune_checkpoints(config: RunConfig) -> None:
    """Delete the Trainer checkpoints of a finished run (unless `keep_checkpoints`)."""
    if config.keep_checkpoints:
        return
    for path in sorted(config.work_dir.glob("*/checkpoint-*")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def run(config: RunConfig) -> Path:
    """Train, evaluate and publish as the config says; return the published checkpoint's path
    (for `final: fold_average`, fold 0's; the others are `<name>-fold<k>` beside it)."""
    on_main_process(
        atomic_write_text, config.work_dir / "config.json", config.model_dump_json(indent=2) + "\n"
    )
    examples = translate(config, load_data(config))
    pre_rows = load_pretrain_rows(config)
    store = ModelStore(config.models_dir)
    info: dict[str, Any] = {
        "run": config.name,
        "data": {t.value: str(p) for t, p in config.data.items()},
        "data_fingerprint": fingerprint(examples),
        "examples": len(examples),
        "translation": translation_name(config.translation),
        "pretrain_data": str(config.pretrain_data) if config.pretrain_data else None,
        "final": config.final,
    }
    thresholds: dict[Task, float] = {}
    metrics: dict[Task, TaskMetrics] = {}
    cv = evaluation = None
    if config.cv.enabled:
        folds = assign_folds(config, examples)

        def fold_start(k: int) -> Path | None:  # fold k's own pre-training, blind to its queries
            held_out = [e for e, f in zip(examples, folds, strict=True) if f == k]
            return pretrain(config, pre_rows, held_out, name=f"pretrain-fold{k}")

        cv = cross_validate(config, examples, folds, fold_start)
        evaluation = evaluate_oof(config, examples, cv.scores)
        thresholds, metrics = evaluation.thresholds, evaluation.metrics
        info["cv"] = {
            "folds": config.cv.folds,
            "trained_folds": config.cv.trained_folds,
            "seed": config.cv.seed,
            "steps": [f.total_steps for f in cv.folds],
            "fold_sizes": [f.train_size for f in cv.folds],
        }
        on_main_process(write_run_report, config, evaluation, cv, {"published": None, **info})
    # Merge check pairs from every task the model serves (each side of a joint model is checked).
    per_task = CHECK_EXAMPLES // len(config.tasks)
    check = [e for task in config.tasks for e in [x for x in examples if x.task is task][:per_task]]
    if config.final == "fold_average":
        assert cv is not None
        published = [
            on_main_process(
                merge_to_checkpoint,
                model_dir=f.model_dir,
                config=config.train,
                name=f"{config.name}-fold{f.fold}",
                store=store,
                thresholds=thresholds,
                threshold_protocol=evaluation.protocol if evaluation else None,
                metrics=metrics,
                training_info={**info, "fold": f.fold},
                check_examples=check,
            )
            or store.root / f"{config.name}-fold{f.fold}"
            for f in cv.folds
        ]
        extra = {"published": [str(p) for p in published], **info}
        on_main_process(write_run_report, config, evaluation, cv, extra, report=False)
        on_main_process(prune_checkpoints, config)
        return published[0]
    steps, info["final_schedule"] = final_steps(config, cv, len(examples))
    final = train_final(config, examples, steps, pretrain(config, pre_rows))
    info["final_steps"] = final.total_steps
    path = on_main_process(
        merge_to_checkpoint,
        model_dir=final.model_dir,
        config=config.train,
        name=config.name,
        store=store,
        thresholds=thresholds,
        threshold_protocol=evaluation.protocol if evaluation else None,
        metrics=metrics,
        training_info=info,
        check_examples=check,
    ) or (store.root / config.name)
    on_main_process(write_run_report, config, evaluation, cv, {"published": str(path), **info}, report=False)
    on_main_process(prune_checkpoints, config)
    return path


# ---------------------------------------------------------------------------------------------------
# CLI


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="the whole pipeline from a YAML run config: CV, thresholds, report, merged checkpoint",
        description="Load data, (translate), make group folds, (cross-task pre-train), fine-tune and score "
        "every fold, tune thresholds on out-of-fold scores, write a report, train the final model, merge "
        "and publish it. Rerunning the same config resumes where it stopped.",
        epilog=CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, type=Path, help="YAML run config (see training/configs/)")
    p.add_argument("--models-dir", type=Path, help="override the config's models_dir")
    p.add_argument("--work-dir", type=Path, help="override the config's work_dir")
    p.set_defaults(handler=_cli)


def _cli(args: argparse.Namespace) -> int:
    config = load_run_config(args.config)
    updates = {
        k: v for k, v in (("models_dir", args.models_dir), ("work_dir", args.work_dir)) if v is not None
    }
    if updates:
        if "work_dir" in updates and config.report_dir == config.work_dir / "report":
            updates["report_dir"] = updates["work_dir"] / "report"
        config = config.model_copy(update=updates)
    print(run(config))
    return 0
