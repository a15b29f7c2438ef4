"""`python -m training run --config FILE.yaml`: the whole recipe from data files to a published checkpoint.

    load data -> (translate) -> group folds -> (cross-task pre-training) -> per fold: fine-tune on the
    other folds, score the held-out fold -> out-of-fold (OOF) scores -> tuned thresholds, metrics, report
    -> final model -> merge -> checkpoint with card in the model store

Each stage is a small function; `run` composes them. Everything a stage produces lives under `work_dir`
and a rerun picks up where the last one stopped: saved folds are reused (and checked against the data),
a finished fold is not retrained, an interrupted fold resumes from its last Trainer checkpoint.

The final model (`final:`):
- `retrain` (default): one model trained on ALL the data for the number of steps CV chose (the mean
  best step over folds, scaled by all-data size / fold-train size), published as `<name>`. Thresholds
  and metrics in its card are the OOF ones, an honest estimate for a model trained the same way.
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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models import ModelStore, Task, TaskMetrics
from training.finetune import TrainConfig

if TYPE_CHECKING:
    from training.data import Example
    from training.finetune import FinetuneResult

log = logging.getLogger(__name__)
T = TypeVar("T")

OTHER_TASK = {Task.QC: Task.QI, Task.QI: Task.QC}
CHECK_EXAMPLES = 64  # pairs the merge check compares adapter and merged scores on


class ModelTranslation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Path = Field(description="local seq2seq MT model directory (MADLAD-400 / NLLB / Marian)")
    cache: Path = Field(description="append-only JSONL translation cache, reused across runs")
    batch_size: int = Field(default=16, ge=1)
    device: str = "cpu"


class CVConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    folds: int = Field(default=5, ge=2)
    seed: int = 42
    # A budgeted comparison: train and score only these folds (the folds themselves are unchanged, so
    # the numbers are comparable across runs); thresholds and metrics then come from their held-out
    # examples only, and the report says so.
    only_folds: list[int] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _check_only_folds(self) -> CVConfig:
        if self.only_folds is not None:
            bad = [k for k in self.only_folds if not 0 <= k < self.folds]
            if bad or len(set(self.only_folds)) != len(self.only_folds):
                raise ValueError(
                    f"cv.only_folds {self.only_folds} must be distinct fold numbers in 0..{self.folds - 1}"
                )
        return self

    @property
    def trained_folds(self) -> list[int]:
        return sorted(self.only_folds) if self.only_folds is not None else list(range(self.folds))


class RunConfig(BaseModel):
    """A run config file (YAML). Unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="published checkpoint name")
    tasks: list[Task] = Field(min_length=1, max_length=2, description="[qc], [qi] or [qc, qi] (joint)")
    data: dict[Task, Path] = Field(description="labelled training file per task (JSONL or CSV)")
    # Cross-task pre-training ("TAPT" in the paper): fine-tune on the other task's data first.
    pretrain_data: Path | None = None
    pretrain_overrides: dict[str, Any] = Field(
        default_factory=dict, description="train fields for pre-training"
    )
    translation: Literal["none", "column"] | ModelTranslation = "none"
    cv: CVConfig = Field(default_factory=CVConfig)
    train: TrainConfig
    final: Literal["retrain", "fold_average"] = "retrain"
    data_on_error: Literal["fail", "drop"] = "fail"
    # Trainer checkpoints (weights + optimizer state) exist to resume an interrupted run; once the run
    # has published, they are deleted unless kept. Fold/final models, scores and reports always stay.
    keep_checkpoints: bool = False
    models_dir: Path = Path("models")
    work_dir: Path | None = None  # default runs/<name>
    report_dir: Path | None = None  # default <work_dir>/report

    @model_validator(mode="before")
    @classmethod
    def _fill_train(cls, values: Any) -> Any:
        # `train.tasks` and `train.uses_translation` follow from the run's tasks and translation.
        if isinstance(values, dict) and isinstance(values.get("train"), dict):
            train = dict(values["train"])
            for key, value in (
                ("tasks", values.get("tasks")),
                ("uses_translation", values.get("translation", "none") != "none"),
            ):
                if key in train and value is not None and train[key] != value:
                    raise ValueError(
                        f"train.{key} ({train[key]!r}) contradicts the run's setting ({value!r}); "
                        f"drop train.{key}, it is set from the top level"
                    )
                if value is not None:
                    train[key] = value
            values = {**values, "train": train}
        return values

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        missing = [t.value for t in self.tasks if t not in self.data]
        if missing:
            raise ValueError(f"data: no file for task(s) {missing}")
        extra = [t.value for t in self.data if t not in self.tasks]
        if extra:
            raise ValueError(f"data: file given for task(s) {extra} that the run does not train")
        if self.pretrain_data is not None and len(self.tasks) > 1:
            raise ValueError("pretrain_data is for single-task runs (a joint model already trains on both)")
        if self.final == "fold_average" and not self.cv.enabled:
            raise ValueError("final: fold_average needs cv.enabled: true (the fold models are the ensemble)")
        if self.work_dir is None:
            self.work_dir = Path("runs") / self.name
        if self.report_dir is None:
            self.report_dir = self.work_dir / "report"
        return self

    def pretrain_config(self) -> TrainConfig:
        other = OTHER_TASK[self.tasks[0]]
        fields = {**self.train.model_dump(), "tasks": [other], "task_prefix": {}, **self.pretrain_overrides}
        return TrainConfig.model_validate(fields)


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown key (typo? see `python -m training run --help` for the keys)")
        else:
            lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_run_config(path: str | Path) -> RunConfig:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"run config {path} not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"run config {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"run config {path} must be a mapping of keys (name, tasks, data, train, ...)")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"invalid run config {path}:\n{_format_errors(exc)}") from None


# ---------------------------------------------------------------------------------------------------
# Stages


def on_main_process(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Under `accelerate launch` every process runs the pipeline; steps that write shared files
    (folds, merged models, checkpoints, reports) run on the main process while the others wait.
    In a single process this is just `fn(...)`."""
    from accelerate import PartialState

    state = PartialState()
    result = fn(*args, **kwargs) if state.is_main_process else None
    state.wait_for_everyone()
    return result


def load_data(config: RunConfig) -> list[Example]:
    """Every task's labelled examples, QC first, then QI (the order folds and OOF scores refer to)."""
    from training.data import load_examples

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
    from training.translate import CachedTranslator, PreTranslated, Seq2SeqTranslator, add_translations

    if config.translation == "none":
        return examples
    if config.translation == "column":
        return add_translations(examples, PreTranslated.from_examples(examples))
    spec = config.translation
    translator = CachedTranslator(
        Seq2SeqTranslator(spec.model, batch_size=spec.batch_size, device=spec.device), spec.cache
    )
    return add_translations(examples, translator)


def assign_folds(config: RunConfig, examples: list[Example]) -> list[int]:
    """Group-aware folds (see `training.splits`), saved under work_dir; a rerun reuses the saved ones."""
    from training.splits import check_no_leakage, fold_summary, load_folds, make_folds, save_folds

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


def pretrain(config: RunConfig) -> Path | None:
    """Cross-task pre-training: fine-tune on the other task's data, merge; later stages start from it."""
    from training.data import fingerprint, load_examples
    from training.finetune import finetune
    from training.merge import export_merged

    if config.pretrain_data is None:
        return None
    pre_config = config.pretrain_config()
    rows, report = load_examples(
        config.pretrain_data, task=pre_config.tasks[0], on_error=config.data_on_error
    )
    log.info("pre-training data:\n%s", report.summary())
    rows = translate(config, rows)
    work = config.work_dir / "pretrain"
    identity = {"data": fingerprint(rows), "train": pre_config.model_dump(mode="json")}
    prepare_dir(work, identity)
    merged = work / "merged"
    if (merged / "config.json").is_file():
        log.info("reusing the cross-task pre-trained model %s", merged)
        return merged
    result = finetune(train=rows, eval=None, config=pre_config, output_dir=work, resume=True)
    on_main_process(export_merged, model_dir=result.model_dir, dest=merged)
    return merged


def _write_json(path: Path, doc: Any) -> None:
    from training.data import atomic_write_text

    atomic_write_text(path, json.dumps(doc) + "\n")


def prepare_dir(path: Path, identity: dict[str, Any]) -> None:
    """Make `path` the working directory of a training described by `identity`: kept (and resumed
    from) if it was started for the same identity, emptied first otherwise, since Trainer checkpoints
    of other data or settings must not be resumed from."""
    marker = path / "identity.json"
    if path.exists():
        same = marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == identity
        if same:
            return
        log.warning("%s holds a training with other data or settings; starting it afresh", path)
        on_main_process(shutil.rmtree, path)
    on_main_process(_write_json, marker, identity)


@dataclass
class FoldOutcome:
    fold: int
    best_step: int
    total_steps: int
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


def train_fold(
    config: RunConfig, examples: list[Example], folds: list[int], k: int, init_from: Path | None
) -> tuple[FoldOutcome, np.ndarray]:
    """Fine-tune on every fold but k, select the best step and score on fold k (resumable)."""
    from training.data import fingerprint
    from training.finetune import finetune

    fold_dir = config.work_dir / f"fold-{k}"
    done = fold_dir / "fold.json"
    held = [i for i, f in enumerate(folds) if f == k]
    # What a fold's results depend on; anything else in the work dir is reused only if this matches.
    identity = {
        "ids": [examples[i].id for i in held],
        "data": fingerprint(examples),
        "train": config.train.model_dump(mode="json"),
        "init_from": str(init_from) if init_from else None,
    }
    if done.is_file():
        saved = json.loads(done.read_text(encoding="utf-8"))
        if saved.get("identity") == identity:
            log.info("fold %d already trained (%s)", k, done)
            outcome = FoldOutcome(
                fold=k,
                best_step=saved["best_step"],
                total_steps=saved["total_steps"],
                train_size=saved["train_size"],
                history=[tuple(h) for h in saved["history"]],
                model_dir=Path(saved["model_dir"]),
                seconds=saved.get("seconds"),
                cpu_seconds=saved.get("cpu_seconds"),
            )
            return outcome, np.asarray(saved["scores"], dtype=np.float64)
    prepare_dir(fold_dir, identity)
    train = [e for e, f in zip(examples, folds, strict=True) if f != k]
    held_out = [examples[i] for i in held]
    log.info(
        "fold %d/%d: training on %d, evaluating on %d", k + 1, config.cv.folds, len(train), len(held_out)
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    result: FinetuneResult = finetune(
        train=train, eval=held_out, config=config.train, output_dir=fold_dir, init_from=init_from, resume=True
    )
    outcome = FoldOutcome(
        fold=k,
        best_step=result.best_step,
        total_steps=result.total_steps,
        train_size=len(train),
        history=result.history,
        model_dir=result.model_dir,
        seconds=round(time.perf_counter() - started, 1),
        cpu_seconds=round(time.process_time() - cpu_started, 1),
    )
    from training.data import atomic_write_text

    on_main_process(
        atomic_write_text,
        done,
        json.dumps(
            {
                "identity": identity,
                "scores": result.eval_scores.tolist(),
                "best_step": result.best_step,
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
    config: RunConfig, examples: list[Example], folds: list[int], init_from: Path | None
) -> CVOutcome:
    scores = np.full(len(examples), np.nan)  # stays NaN for folds not trained (cv.only_folds)
    outcome = CVOutcome(scores=scores)
    for k in config.cv.trained_folds:
        fold, fold_scores = train_fold(config, examples, folds, k, init_from)
        held = [i for i, f in enumerate(folds) if f == k]
        scores[held] = fold_scores
        assert not np.isnan(scores[held]).any()
        outcome.folds.append(fold)
    return outcome


@dataclass
class OOFEvaluation:
    thresholds: dict[Task, float]  # F1-maximising threshold per task, tuned on OOF scores
    metrics: dict[Task, TaskMetrics]  # at that threshold
    results: dict[Task, Any]  # training.evaluate.TaskResult per task, for the report
    predictions: list[Any]  # training.evaluate.Prediction per example


def evaluate_oof(config: RunConfig, examples: list[Example], scores: np.ndarray) -> OOFEvaluation:
    """Per task: the F1-maximising threshold on out-of-fold scores and the metrics at it."""
    from training.evaluate import Prediction, TaskResult, compute_metrics, tune_threshold

    out = OOFEvaluation(thresholds={}, metrics={}, results={}, predictions=[])
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


def write_run_report(
    config: RunConfig,
    evaluation: OOFEvaluation | None,
    cv: CVOutcome | None,
    extra: dict[str, Any],
    *,
    report: bool = True,
) -> None:
    """`report.md` + plots (training.evaluate) and the OOF predictions (when `report`), and `run.json`."""
    from training.data import atomic_write_text
    from training.evaluate import write_predictions, write_report

    method = "full fine-tuning" if config.train.full_finetune else f"LoRA r={config.train.lora.r}"
    translation = config.translation if isinstance(config.translation, str) else "model"
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
            f"Fold {f.fold}: best step {f.best_step} of {f.total_steps}, eval F1 history {f.history}"
        )
    if evaluation is not None and report:
        # write_report replaces report_dir as a whole, so it goes first.
        title = f"{config.name}: out-of-fold evaluation"
        write_report(config.report_dir, title=title, results=evaluation.results, notes="\n".join(lines))
        write_predictions(config.report_dir / "oof_predictions.jsonl", evaluation.predictions)
    doc = {
        "config": config.model_dump(mode="json"),
        "thresholds": {t.value: v for t, v in (evaluation.thresholds if evaluation else {}).items()},
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


def final_steps(config: RunConfig, cv: CVOutcome, n_all: int) -> int:
    """The step count for the all-data model: mean best step, scaled by how much more data it sees."""
    best = np.mean([f.best_step for f in cv.folds])
    train = np.mean([f.train_size for f in cv.folds])
    return max(1, round(best * n_all / train))


def train_final(
    config: RunConfig, examples: list[Example], steps: int | None, init_from: Path | None
) -> FinetuneResult:
    from training.data import fingerprint
    from training.finetune import FINAL_DIRNAME, META_FILENAME, FinetuneResult, finetune

    final_config = config.train if steps is None else config.train.model_copy(update={"max_steps": steps})
    identity = {
        "data": fingerprint(examples),
        "train": final_config.model_dump(mode="json"),
        "init_from": str(init_from) if init_from else None,
    }
    work = config.work_dir / "final"
    prepare_dir(work, identity)
    done = work / FINAL_DIRNAME / META_FILENAME  # written when fine-tuning has finished
    if done.is_file():
        meta = json.loads(done.read_text(encoding="utf-8"))
        log.info("final model already trained (%s)", done.parent)
        return FinetuneResult(
            model_dir=done.parent, best_step=meta["best_step"], total_steps=meta["total_steps"]
        )
    log.info(
        "final model: %d examples, %s", len(examples), f"{steps} steps" if steps else "configured epochs"
    )
    return finetune(
        train=examples,
        eval=None,
        config=final_config,
        output_dir=config.work_dir / "final",
        init_from=init_from,
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
    from training.data import atomic_write_text, fingerprint
    from training.merge import merge_to_checkpoint

    on_main_process(
        atomic_write_text, config.work_dir / "config.json", config.model_dump_json(indent=2) + "\n"
    )
    examples = translate(config, load_data(config))
    init_from = pretrain(config)
    store = ModelStore(config.models_dir)
    info: dict[str, Any] = {
        "run": config.name,
        "data": {t.value: str(p) for t, p in config.data.items()},
        "data_fingerprint": fingerprint(examples),
        "examples": len(examples),
        "translation": config.translation
        if isinstance(config.translation, str)
        else str(config.translation.model),
        "pretrain_data": str(config.pretrain_data) if config.pretrain_data else None,
        "final": config.final,
    }
    thresholds: dict[Task, float] = {}
    metrics: dict[Task, TaskMetrics] = {}
    cv = evaluation = None
    if config.cv.enabled:
        folds = assign_folds(config, examples)
        cv = cross_validate(config, examples, folds, init_from)
        evaluation = evaluate_oof(config, examples, cv.scores)
        thresholds, metrics = evaluation.thresholds, evaluation.metrics
        info["cv"] = {
            "folds": config.cv.folds,
            "trained_folds": config.cv.trained_folds,
            "seed": config.cv.seed,
            "best_steps": [f.best_step for f in cv.folds],
            "fold_sizes": [f.train_size for f in cv.folds],
        }
        on_main_process(write_run_report, config, evaluation, cv, {"published": None, **info})
    # Merge check pairs from every task the model serves (a joint model's QI side is checked too).
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
    steps = final_steps(config, cv, len(examples)) if cv is not None else None
    final = train_final(config, examples, steps, init_from)
    info["final_steps"] = final.total_steps
    path = on_main_process(
        merge_to_checkpoint,
        model_dir=final.model_dir,
        config=config.train,
        name=config.name,
        store=store,
        thresholds=thresholds,
        metrics=metrics,
        training_info=info,
        check_examples=check,
    ) or (store.root / config.name)
    on_main_process(write_run_report, config, evaluation, cv, {"published": str(path), **info}, report=False)
    on_main_process(prune_checkpoints, config)
    return path


# ---------------------------------------------------------------------------------------------------
# CLI

CONFIG_HELP = """\
run config keys (YAML; unknown keys are errors):
  name                 checkpoint name published into models_dir
  tasks                [qc] | [qi] | [qc, qi] (one joint model with a task prefix)
  data                 {qc: FILE, qi: FILE}: labelled JSONL/CSV per task
  pretrain_data        FILE of the other task: cross-task pre-training first (single-task runs)
  pretrain_overrides   train fields for the pre-training (e.g. {epochs: 1})
  translation          none | column (data's query_en) | {model: MT_DIR, cache: FILE, batch_size, device}
  cv                   {enabled: true, folds: 5, seed: 42, only_folds: null}: group k-fold, OOF thresholds
                       and metrics; only_folds [0] trains and scores fold 0 alone (a budgeted comparison)
  train                fine-tuning fields (training.finetune.TrainConfig): base_model, max_length, lora {r,
                       alpha, dropout, target_modules}, full_finetune, learning_rate, lr_scheduler, epochs,
                       max_steps, batch_size, grad_accum, eval_steps, seed, bf16, num_labels, ...
  final                retrain (all data, CV-chosen steps) | fold_average (publish <name>-fold<k>)
  data_on_error        fail | drop: invalid data rows stop the run or are dropped and counted
  keep_checkpoints     keep Trainer checkpoints after a successful run (default false: deleted)
  models_dir           model store (default models); work_dir (default runs/<name>, resumable);
  report_dir           (default <work_dir>/report)
"""


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
