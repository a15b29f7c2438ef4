"""Cross-validation, the pipeline's middle stages: group folds, one fine-tuning per fold scored on the
fold it did not see, and the out-of-fold (OOF) evaluation that sets the published thresholds.

The protocol cannot flatter itself: each fold model trains the configured epochs or steps and is scored
at its last step (no step is chosen on the held-out rows whose scores then tune the threshold), and no
query of a held-out fold reaches its model through the other task (`splits.drop_held_out_queries`: a
joint model's fold-train rows here, a fold's cross-task pre-training rows in the pipeline).

Each stage is resumable: saved folds are reused (and checked against the data), a finished fold is not
retrained (`fold-<k>/fold.json` holds its scores), an interrupted fold resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from models import Task, TaskMetrics
from models.io import atomic_write_text
from training.config import RunConfig
from training.data import Example, fingerprint
from training.evaluate import Prediction, TaskResult, compute_metrics, oof_threshold_protocol, tune_threshold
from training.finetune import FinetuneResult, finetune
from training.splits import (
    check_no_leakage,
    drop_held_out_queries,
    fold_summary,
    load_folds,
    make_folds,
    save_folds,
)
from training.workdir import on_main_process, prepare_dir

log = logging.getLogger(__name__)

# Part of a fold's identity: folds finished under an older protocol (best step picked on the held-out
# fold, cross-task queries not held out) are retrained, never reused.
FOLD_PROTOCOL = "last step; cross-task rows of held-out queries dropped"


def assign_folds(config: RunConfig, examples: list[Example]) -> list[int]:
    """Group-aware folds (see `training.splits`), saved under work_dir; a rerun reuses the saved ones."""
    path = config.work_dir / "folds.json"
    if path.is_file():
        folds = load_folds(path, examples)  # refuses folds made for other data
        log.info("reusing folds from %s", path)
    else:
        folds = make_folds(examples, n_folds=config.cv.folds, seed=config.cv.seed)
        on_main_process(save_folds, path, examples, folds, n_folds=config.cv.folds, seed=config.cv.seed)
    check_no_leakage(examples, folds)
    log.info("folds:\n%s", fold_summary(examples, folds))
    return folds


@dataclass
class FoldOutcome:
    fold: int
    total_steps: int  # the scored step: the last one
    train_size: int
    history: list[tuple[int, float]]
    model_dir: Path
    # Cost of training + scoring the fold (None for folds finished by an older version of the pipeline).
    seconds: float | None = None
    cpu_seconds: float | None = None  # this process's user + system time, all threads


@dataclass
class CVOutcome:
    scores: np.ndarray  # out-of-fold probability for every example, in data order
    folds: list[FoldOutcome] = field(default_factory=list)


class StartingModel(Protocol):
    """A model a fold starts from (its cross-task pre-training): what it is trained on and how, known
    before it exists, and the model itself, trained on first use."""

    @property
    def identity(self) -> dict[str, Any]: ...

    def path(self) -> Path: ...


def train_fold(
    config: RunConfig, examples: list[Example], folds: list[int], k: int, start: StartingModel | None
) -> tuple[FoldOutcome, np.ndarray]:
    """Fine-tune on every fold but k (less the other task's rows of fold k's queries), score fold k with
    the last step (resumable). `start` is trained only if the fold has to be."""
    fold_dir = config.work_dir / f"fold-{k}"
    done = fold_dir / "fold.json"
    held = [i for i, f in enumerate(folds) if f == k]
    # What a fold's results depend on; anything else in the work dir is reused only if this matches.
    identity = {
        "ids": [examples[i].id for i in held],
        "data": fingerprint(examples),
        "train": config.train.model_dump(mode="json"),
        # What the starting model is, not where: a changed pre-training keeps its folder.
        "init_from": start.identity if start else None,
        "protocol": FOLD_PROTOCOL,
    }
    if done.is_file():
        saved = json.loads(done.read_text(encoding="utf-8"))
        if saved.get("identity") == identity:
            log.info("fold %d already trained (%s)", k, done)
            outcome = FoldOutcome(
                fold=k,
                total_steps=saved["total_steps"],
                train_size=saved["train_size"],
                history=[tuple(h) for h in saved["history"]],
                model_dir=Path(saved["model_dir"]),
                seconds=saved.get("seconds"),
                cpu_seconds=saved.get("cpu_seconds"),
            )
            return outcome, np.asarray(saved["scores"], dtype=np.float64)
    prepare_dir(fold_dir, identity)
    held_out = [examples[i] for i in held]
    rest = [e for e, f in zip(examples, folds, strict=True) if f != k]
    train = drop_held_out_queries(rest, held_out)  # a no-op for a single task
    log.info(
        "fold %d/%d: training on %d (%d other-task rows of held-out queries left out), evaluating on %d",
        k + 1,
        config.cv.folds,
        len(train),
        len(rest) - len(train),
        len(held_out),
    )
    init_from = start.path() if start else None
    started, cpu_started = time.perf_counter(), time.process_time()
    result: FinetuneResult = finetune(
        train=train, eval=held_out, config=config.train, output_dir=fold_dir, init_from=init_from, resume=True
    )
    outcome = FoldOutcome(
        fold=k,
        total_steps=result.total_steps,
        train_size=len(train),
        history=result.history,
        model_dir=result.model_dir,
        seconds=round(time.perf_counter() - started, 1),
        cpu_seconds=round(time.process_time() - cpu_started, 1),
    )
    on_main_process(
        atomic_write_text,
        done,
        json.dumps(
            {
                "identity": identity,
                "scores": result.eval_scores.tolist(),
                "total_steps": result.total_steps,
                "train_size": len(train),
                "history": result.history,
                "model_dir": str(result.model_dir),
                "seconds": outcome.seconds,
                "cpu_seconds": outcome.cpu_seconds,
            }
        )
        + "\n",
    )
    return outcome, result.eval_scores


def cross_validate(
    config: RunConfig,
    examples: list[Example],
    folds: list[int],
    init_from: Callable[[int], StartingModel | None] | None = None,
) -> CVOutcome:
    """Every trained fold's model and out-of-fold scores; `init_from(k)` is fold k's starting model (its
    own cross-task pre-training, which must not have seen fold k's queries), None for the base."""
    scores = np.full(len(examples), np.nan)  # stays NaN for folds not trained (cv.only_folds)
    outcome = CVOutcome(scores=scores)
    for k in config.cv.trained_folds:
        start = init_from(k) if init_from is not None else None
        fold, fold_scores = train_fold(config, examples, folds, k, start)
        held = [i for i, f in enumerate(folds) if f == k]
        scores[held] = fold_scores
        assert not np.isnan(scores[held]).any()
        outcome.folds.append(fold)
    return outcome


@dataclass
class OOFEvaluation:
    thresholds: dict[Task, float]  # F1-maximising threshold per task, tuned on OOF scores
    protocol: str  # how: the card's `threshold_protocol`
    metrics: dict[Task, TaskMetrics]  # at that threshold
    results: dict[Task, TaskResult]  # per task, for the report
    predictions: list[Prediction]  # per scored example


def evaluate_oof(config: RunConfig, examples: list[Example], scores: np.ndarray) -> OOFEvaluation:
    """Per task: the F1-maximising threshold on out-of-fold scores and the metrics at it."""
    folds = config.cv.trained_folds
    what = f"{len(folds)} fold model(s)" + (
        f" (folds {folds} of {config.cv.folds})" if config.cv.only_folds is not None else ""
    )
    protocol = oof_threshold_protocol(what)
    out = OOFEvaluation(thresholds={}, metrics={}, results={}, predictions=[], protocol=protocol)
    scored = ~np.isnan(scores)  # every example, unless cv.only_folds left some folds out
    for task in config.tasks:
        idx = [i for i, e in enumerate(examples) if e.task is task and scored[i]]
        labels = [int(examples[i].label) for i in idx]  # type: ignore[arg-type]
        task_scores = [float(scores[i]) for i in idx]
        languages = [examples[i].language for i in idx]
        threshold = float(tune_threshold(labels, task_scores))
        out.thresholds[task] = threshold
        out.metrics[task] = compute_metrics(
            labels=labels, scores=task_scores, languages=languages, threshold=threshold
        )
        out.results[task] = TaskResult(labels, task_scores, languages, threshold, tuned_from_oof=True)
        log.info("%s OOF: threshold %.3f, F1 %.4f", task.value, threshold, out.metrics[task].f1)
    out.predictions = [
        Prediction(id=e.id, task=e.task, language=e.language, score=float(s), label=e.label)
        for e, s, ok in zip(examples, scores, scored, strict=True)
        if ok
    ]
    return out
