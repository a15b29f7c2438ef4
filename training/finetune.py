"""Fine-tune a sequence classifier on relevance pairs: HF `Trainer` + peft LoRA (or full fine-tuning).

Input ids come from `models.PairEncoder` with the `InputSpec` the config describes, i.e. exactly the ids
the service will build at serving time, and batches are padded by `models.inference.collate`, the same
collate the serving forward pass uses. The same code runs on one CPU and under `accelerate launch` /
DeepSpeed ZeRO-2 on many GPUs (see `training/configs/accelerate_zero2.yaml`): `Trainer` handles the
distribution.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models import EncodedPair, InputSpec, PairEncoder
from models.inference import score_encoded, uses_token_types
from models.io import atomic_write_text
from models.loading import load_tokenizer
from training.bases import resolve_base
from training.config import TrainConfig
from training.workdir import distributed_state

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from training.data import Example

log = logging.getLogger(__name__)

# Written next to the trained model; `merge` reads it to rebuild base + adapter exactly.
META_FILENAME = "finetune.json"
FINAL_DIRNAME = "final"


@dataclass
class FinetuneResult:
    model_dir: Path  # adapter (LoRA) or full model of the last step, with `finetune.json`
    total_steps: int
    # (step, eval F1): a learning curve to read, never a step to pick; the model is always the last step's
    history: list[tuple[int, float]] = field(default_factory=list)
    loss_history: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss)
    eval_scores: np.ndarray | None = None  # the last step's relevance probabilities, in `eval` order
    # every evaluation's scores by step (ablations read a learning curve from one run)
    eval_scores_by_step: dict[int, np.ndarray] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Model, tokenizer, data


def load_classifier(
    path: Path, *, num_labels: int, pad_token_id: int, dtype: str = "float32"
) -> PreTrainedModel:
    """A sequence classifier from a base (head freshly initialised) or from an earlier classifier."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=num_labels,
        trust_remote_code=False,
        use_safetensors=True,
        # A base that already carries a head of another size (a 2-label classifier continued as a
        # 1-label one) gets a fresh head instead of a load-time size error.
        ignore_mismatched_sizes=True,
        dtype=getattr(torch, dtype),
    )
    # Decoder heads score the last non-pad token, which they find through config.pad_token_id.
    model.config.pad_token_id = pad_token_id
    return model


def check_max_length(model: PreTrainedModel, max_length: int) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and max_length > limit:
        raise ValueError(
            f"max_length {max_length} exceeds the base model's {limit} positions "
            f"({model.config.model_type}); lower train.max_length"
        )


def encode_examples(
    tokenizer: PreTrainedTokenizerBase, spec: InputSpec, examples: Sequence[Example]
) -> list[EncodedPair]:
    return PairEncoder(tokenizer, spec).encode_batch([e.pair() for e in examples])


def labels_of(examples: Sequence[Example], what: str) -> list[int]:
    missing = sum(e.label is None for e in examples)
    if missing:
        raise ValueError(f"{what}: {missing} of {len(examples)} examples have no label")
    return [int(e.label) for e in examples]  # type: ignore[arg-type]


def check_tasks(examples: Sequence[Example], config: TrainConfig, what: str) -> None:
    extra = sorted({e.task.value for e in examples} - {t.value for t in config.tasks})
    if extra:
        raise ValueError(
            f"{what} holds {extra} examples but the model is trained for {[t.value for t in config.tasks]} "
            "(a joint model lists every task it trains on in tasks)"
        )


# ---------------------------------------------------------------------------------------------------
# Training


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _bf16(config: TrainConfig) -> bool:
    if config.bf16 is not None:
        return config.bf16
    import torch

    return bool(_cuda() and torch.cuda.is_bf16_supported())


def training_arguments(config: TrainConfig, output_dir: Path, *, has_eval: bool):
    from transformers import TrainingArguments

    strategy = "steps" if has_eval else "no"
    processes = distributed_state().num_processes
    per_device, accum = config.per_device_batch(processes)
    log.info(
        "batch: %d per device x %d accumulation x %d process(es) = %d examples per optimizer step",
        per_device,
        accum,
        processes,
        config.effective_batch_size,
    )
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        eval_strategy=strategy,
        eval_steps=config.eval_steps,
        # Checkpoints every eval_steps, for resuming. No best model is loaded at the end: a step chosen
        # by eval F1 would be chosen on the held-out fold whose scores then tune the threshold.
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=False,
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        bf16=_bf16(config),
        gradient_checkpointing=config.gradient_checkpointing,
        seed=config.seed,
        data_seed=config.seed,
        dataloader_num_workers=config.dataloader_workers,
        dataloader_pin_memory=_cuda(),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        remove_unused_columns=False,  # our dataset items are exactly the model inputs
        report_to="none",
        disable_tqdm=False,
        deepspeed=config.deepspeed,
    )


def _wrap_lora(model: PreTrainedModel, config: TrainConfig) -> PreTrainedModel:
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=config.lora.target_modules,
    )
    model = get_peft_model(model, lora)
    trainable, total = model.get_nb_trainable_parameters()
    log.info(
        "LoRA: %d trainable of %d parameters (%.2f%%)", trainable, total, 100 * trainable / max(total, 1)
    )
    return model


def _last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None


def finetune(
    *,
    train: list[Example],
    eval: list[Example] | None,
    config: TrainConfig,
    output_dir: Path,
    init_from: Path | None = None,
    resume: bool = False,
) -> FinetuneResult:
    """Train on `train` for the configured epochs or steps and save the last step under `output_dir/final`;
    `eval` is scored every `eval_steps` (the F1 history) and at the last step (`eval_scores`).

    `init_from`: a merged classifier (e.g. from training on the other task first, the paper's
    cross-task pre-training) to start from instead of `config.base_model`.
    `resume`: continue from the newest checkpoint in `output_dir` when there is one.
    """
    from transformers import set_seed

    from training.trainer import EncodedDataset, EvalMetrics, EvaluateLastStep, PairCollator, RelevanceTrainer

    if not train:
        raise ValueError("no training examples")
    check_tasks(train, config, "training data")
    if eval:
        check_tasks(eval, config, "eval data")
    set_seed(config.seed)  # before the head and the LoRA matrices are initialised: runs are repeatable
    output_dir = Path(output_dir)
    start = Path(init_from) if init_from is not None else resolve_base(config.base_model)
    tokenizer = load_tokenizer(start)
    model = load_classifier(
        start, num_labels=config.num_labels, pad_token_id=tokenizer.pad_token_id, dtype=config.model_dtype
    )
    check_max_length(model, config.input.max_length)
    if config.gradient_checkpointing and hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    spec = config.input
    train_encoded = encode_examples(tokenizer, spec, train)
    truncated = sum(e.truncated for e in train_encoded)
    if truncated:
        log.info("%d of %d training pairs truncated to max_length %d", truncated, len(train), spec.max_length)
    train_ds = EncodedDataset(train_encoded, labels_of(train, "training data"))
    eval_encoded = encode_examples(tokenizer, spec, eval) if eval else None
    eval_ds = EncodedDataset(eval_encoded, labels_of(eval, "eval data")) if eval else None

    if not config.full_finetune:
        model = _wrap_lora(model, config)
    elif config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    args = training_arguments(config, output_dir, has_eval=eval_ds is not None)
    metrics = EvalMetrics([e.task for e in eval], config.num_labels) if eval else None
    trainer = RelevanceTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=PairCollator(pad_id=tokenizer.pad_token_id, token_types=uses_token_types(model.config)),
        processing_class=tokenizer,
        compute_metrics=metrics,
        callbacks=[EvaluateLastStep()],
    )
    if metrics is not None:
        metrics.trainer = trainer
    checkpoint = _last_checkpoint(output_dir) if resume else None
    if checkpoint:
        log.info("resuming from %s", checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint)

    state = trainer.state
    history = [(int(h["step"]), float(h["eval_f1"])) for h in state.log_history if "eval_f1" in h]
    losses = [(int(h["step"]), float(h["loss"])) for h in state.log_history if "loss" in h]
    last_step = int(state.global_step)

    final_dir = output_dir / FINAL_DIRNAME
    trainer.save_model(str(final_dir))  # adapter + head (LoRA) or the full model; safetensors
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(final_dir)
        (final_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; the config is in finetune.json
    meta = {
        "base_dir": str(start.resolve()),
        "base_model": config.base_model,
        "init_from": str(init_from) if init_from is not None else None,
        "full_finetune": config.full_finetune,
        "config": config.model_dump(mode="json"),
        "total_steps": last_step,
        "history": history,
        "train_examples": len(train),
        "eval_examples": len(eval) if eval else 0,
    }
    if trainer.is_world_process_zero():
        # Written last: its presence marks a finished fine-tuning (the pipeline relies on it).
        atomic_write_text(final_dir / META_FILENAME, json.dumps(meta, indent=2) + "\n")

    scores = None
    if eval_encoded is not None:
        scores = metrics.scores_by_step.get(last_step)
        if scores is None:  # that eval ran before a resume; score again with the serving forward pass
            trainer.model.eval()
            scores = score_encoded(
                trainer.model,
                eval_encoded,
                pad_id=tokenizer.pad_token_id,
                batch_size=config.eval_batch_size,
                progress=True,
                desc="eval scoring",
            )
    log.info("fine-tuning done: %d steps, eval F1 history %s", last_step, history)
    return FinetuneResult(
        model_dir=final_dir,
        total_steps=last_step,
        history=history,
        loss_history=losses,
        eval_scores=scores,
        eval_scores_by_step=dict(metrics.scores_by_step) if metrics is not None else {},
    )


# ---------------------------------------------------------------------------------------------------
# CLI


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune one model (LoRA or full) on labelled data",
        description="Fine-tune a classifier on a training file for the configured epochs or steps, "
        "optionally scoring an eval file along the way (the last step is kept). The training options come "
        "from a YAML run config's `train:` section. For a whole cross-validated run use `run --config`.",
    )
    p.add_argument(
        "--config", required=True, type=Path, help="YAML run config (its `train:` section is used)"
    )
    p.add_argument("--train", required=True, type=Path, help="training data (JSONL or CSV)")
    p.add_argument("--eval", type=Path, help="held-out data scored every eval_steps (F1 history)")
    p.add_argument("--output-dir", required=True, type=Path, help="where checkpoints and `final/` go")
    p.add_argument(
        "--init-from", type=Path, help="start from this merged classifier (cross-task pre-training)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --output-dir"
    )
    p.set_defaults(handler=_cli)


def _cli(args: argparse.Namespace) -> int:
    from training.config import load_run_config
    from training.data import load_examples

    config = load_run_config(args.config).train
    train, _ = load_examples(args.train)
    evaluation = load_examples(args.eval)[0] if args.eval else None
    result = finetune(
        train=train,
        eval=evaluation,
        config=config,
        output_dir=args.output_dir,
        init_from=args.init_from,
        resume=args.resume,
    )
    print(result.model_dir)
    return 0
