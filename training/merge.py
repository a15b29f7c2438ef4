"""Merge a trained LoRA adapter into its base and publish a carded checkpoint into the model store.

Publishing is all-or-nothing: the merged model is written to a temp directory, reloaded from disk and
scored against the adapter model on check pairs; only if the scores agree (max abs diff <= 1e-4 in fp32)
are the card written and the directory renamed into place. A merge that changed the model's outputs
(a peft/transformers mismatch, a head that did not make it into the merge, a corrupted write) is refused
and nothing is published.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models import CARD_FILENAME, ModelCard, ModelStore, Task, TaskMetrics, open_checkpoint, weights_sha256
from models.io import atomic_directory
from models.loading import load_tokenizer
from models.scores import DEFAULT_THRESHOLD, check_threshold
from training.config import TrainConfig, load_run_config
from training.data import Example, load_examples
from training.finetune import META_FILENAME, encode_examples, load_classifier

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

# Largest score difference tolerated between the adapter model and the reloaded merged model.
TOLERANCE = {"float32": 1e-4, "bfloat16": 3e-2}  # bf16 rounds every merged weight to 8 mantissa bits


class MergeError(ValueError):
    """The merged model does not reproduce the trained model; nothing was published."""


def read_meta(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / META_FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{model_dir} has no {META_FILENAME}: give the `final/` directory written by `finetune` or `run`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_trained(model_dir: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, Any]]:
    """The trained model as it was at the end of fine-tuning (base + adapter, or the full model), fp32."""
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    tokenizer = load_tokenizer(model_dir)
    num_labels = int(meta["config"]["num_labels"])
    if meta["full_finetune"]:
        model = load_classifier(model_dir, num_labels=num_labels, pad_token_id=tokenizer.pad_token_id)
    else:
        from peft import PeftModel

        base_dir = Path(meta["base_dir"])
        if not base_dir.is_dir():
            raise FileNotFoundError(f"base model {base_dir} of adapter {model_dir} no longer exists")
        base = load_classifier(base_dir, num_labels=num_labels, pad_token_id=tokenizer.pad_token_id)
        model = PeftModel.from_pretrained(base, model_dir, is_trainable=False)
    return model.eval(), tokenizer, meta


def merge_model(model: PreTrainedModel) -> PreTrainedModel:
    """Fold LoRA deltas into the base weights and drop the peft wrappers (a no-op for a full model)."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    return model.eval()


def save_merged(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, dest: Path, *, dtype: str
) -> None:
    import torch

    model.to(getattr(torch, dtype)).save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)


def _scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: TrainConfig,
    examples: Sequence[Example],
) -> np.ndarray:
    from models.inference import score_encoded

    encoded = encode_examples(tokenizer, config.input, examples)
    return score_encoded(model, encoded, pad_id=tokenizer.pad_token_id, batch_size=32)


def export_merged(*, model_dir: Path, dest: Path) -> Path:
    """A plain merged classifier (no card) for starting another fine-tuning from: cross-task pre-training."""
    model, tokenizer, meta = load_trained(model_dir)
    with atomic_directory(dest) as tmp:
        save_merged(merge_model(model), tokenizer, tmp, dtype="float32")
        (tmp / META_FILENAME.replace(".json", "-source.json")).write_text(
            json.dumps(meta, indent=2), encoding="utf-8"
        )
    return Path(dest)


def _check_identical(reference: np.ndarray, merged: np.ndarray, tolerance: float) -> None:
    diff = float(np.max(np.abs(reference - merged))) if len(reference) else 0.0
    log.info(
        "merge check: max |adapter - merged| = %.2e over %d pairs (tolerance %.0e)",
        diff,
        len(reference),
        tolerance,
    )
    if not np.isfinite(diff) or diff > tolerance:
        raise MergeError(
            f"merged model disagrees with the trained model: max score difference {diff:.3g} > {tolerance:g} "
            f"on {len(reference)} check pairs; nothing was published (check peft/transformers versions and "
            "that the classification head was saved with the adapter)"
        )


def merge_to_checkpoint(
    *,
    model_dir: Path,
    config: TrainConfig,
    name: str,
    store: ModelStore,
    thresholds: Mapping[Task, float] | None = None,
    threshold_protocol: str | None = None,
    metrics: Mapping[Task, TaskMetrics | Mapping] | None = None,
    training_info: Mapping[str, Any] | None = None,
    check_examples: Sequence[Example],
) -> Path:
    """Merge `model_dir` (a `finetune` output) and publish it as `store.root/name`; return its path."""
    import torch
    from transformers import AutoModelForSequenceClassification

    if not check_examples:
        raise ValueError("merge needs check examples to compare the merged model against the trained one")
    model, tokenizer, meta = load_trained(model_dir)
    reference = _scores(model, tokenizer, config, check_examples)
    merged = merge_model(model)
    architecture = type(merged).__name__
    dest = store.root / name
    with store.publishing(name) as tmp:
        save_merged(merged, tokenizer, tmp, dtype=config.save_dtype)
        del merged, model
        reloaded = AutoModelForSequenceClassification.from_pretrained(
            tmp, trust_remote_code=False, use_safetensors=True, dtype=getattr(torch, config.save_dtype)
        ).eval()
        _check_identical(
            reference, _scores(reloaded, tokenizer, config, check_examples), TOLERANCE[config.save_dtype]
        )
        training = {
            "config": meta["config"],
            "init_from": meta.get("init_from"),
            "total_steps": meta["total_steps"],
            "eval_history": meta.get("history", []),
            "train_examples": meta.get("train_examples"),
            **dict(training_info or {}),
        }
        card = ModelCard(
            name=name,
            tasks=list(config.tasks),
            base_model=config.base_model,
            architecture=architecture,
            num_labels=config.num_labels,
            input=config.input,
            thresholds=dict(thresholds or {}),
            threshold_protocol=threshold_protocol,
            metrics={
                Task(t): TaskMetrics.model_validate(m if isinstance(m, Mapping) else m.model_dump())
                for t, m in (metrics or {}).items()
            },
            training=training,
            dtype=config.save_dtype,
            weights_sha256=weights_sha256(tmp),
        )
        card.write(tmp / CARD_FILENAME)
        open_checkpoint(tmp)  # the published directory must pass the service's own validation
    log.info("published %s", dest)
    return dest


# ---------------------------------------------------------------------------------------------------
# CLI


def default_check_examples(tasks: Sequence[Task]) -> list[Example]:
    """What the CLI compares adapter and merged model on when no --check-data is given: each task's
    registered check pairs (a few languages)."""
    return [
        Example(id=f"check-{task.value}-{i}", task=task, language="xx", query=query, target=target)
        for task in tasks
        for i, (query, target) in enumerate(task.spec.check_pairs)
    ]


def _thresholds(values: list[str]) -> dict[Task, float]:
    out = {}
    for item in values:
        task, sep, value = item.partition("=")
        try:
            number = float(value) if sep else None
        except ValueError:
            number = None
        if number is None:
            raise ValueError(f"--threshold expects TASK=VALUE like qc=0.47, got {item!r}")
        out[Task(task)] = check_threshold(number, what=f"--threshold for {task}")
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "merge",
        help="merge a LoRA adapter into its base and publish a checkpoint",
        description="Merge a fine-tuned adapter (a `finetune` output's final/ directory), verify the merged "
        "model reproduces the adapter's scores, write the model card and publish it atomically into the "
        "model store.",
    )
    p.add_argument("--model-dir", required=True, type=Path, help="the `final/` directory written by finetune")
    p.add_argument(
        "--config",
        type=Path,
        help="YAML run config whose `train:` section trained the model (default: the config "
        "recorded in the model dir's finetune.json)",
    )
    p.add_argument("--name", required=True, help="checkpoint name in the store (letters, digits, . _ -)")
    p.add_argument(
        "--models-dir", type=Path, default=Path("models"), help="model store root (default: models)"
    )
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="TASK=VALUE",
        help=f"decision threshold per task, e.g. qc=0.47 (default {DEFAULT_THRESHOLD}); repeatable",
    )
    p.add_argument(
        "--check-data",
        type=Path,
        help="pairs to compare merged vs adapter scores on (default: built-in multilingual pairs)",
    )
    p.set_defaults(handler=_cli)


def _cli(args: argparse.Namespace) -> int:
    if args.config is not None:
        config = load_run_config(args.config).train
    else:
        config = TrainConfig.model_validate(read_meta(args.model_dir)["config"])
    if args.check_data is not None:
        check = load_examples(args.check_data, require_labels=False)[0][:64]
    else:
        check = default_check_examples(config.tasks)
    path = merge_to_checkpoint(
        model_dir=args.model_dir,
        config=config,
        name=args.name,
        store=ModelStore(args.models_dir),
        thresholds=_thresholds(args.threshold),
        threshold_protocol="given on the merge command line (--threshold)" if args.threshold else None,
        metrics={},
        training_info={"merged_by": "cli"},
        check_examples=check,
    )
    print(path)
    return 0
