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
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models import EncodedPair, InputSpec, Task

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from training.data import Example

log = logging.getLogger(__name__)

# Written next to the trained model; `merge` reads it to rebuild base + adapter exactly.
META_FILENAME = "finetune.json"
FINAL_DIRNAME = "final"
DEFAULT_TASK_PREFIX = {Task.QC: "query-category: ", Task.QI: "query-item: "}


class LoraSettings(BaseModel):
    """The paper's adapter: r=16, alpha=32, dropout 0.01 on every linear projection; head trained fully."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.01, ge=0.0, lt=1.0)
    # "all-linear" = q,k,v,o,gate,up,down (decoders) / every encoder linear (BERT); the classification
    # head is excluded here and trained in full through peft's SEQ_CLS `modules_to_save`.
    target_modules: str | list[str] = "all-linear"


class TrainConfig(BaseModel):
    """Hyper-parameters of one fine-tuning run. Defaults are the paper's recipe (arXiv 2510.25428)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(description="a Hugging Face model directory or a base name (`bases list`)")
    tasks: list[Task] = Field(default_factory=lambda: [Task.QC], min_length=1)
    max_length: int = Field(default=2048, ge=16, le=32768)
    query_format: str = "{query}"
    query_format_translated: str = "{query} - {query_en}"
    # Joint (2-task) models mark the task in front of the query; defaults filled in for joint configs.
    task_prefix: dict[Task, str] = Field(default_factory=dict)
    uses_translation: bool = False
    lora: LoraSettings = Field(default_factory=LoraSettings)
    full_finetune: bool = False
    # Full fine-tuning only: keep the token embeddings fixed. A multilingual vocabulary is most of a small
    # model (e5-small: 96M of 118M weights); a few thousand pairs barely move it, and its gradient and
    # Adam state dominate the step time and memory on CPU.
    freeze_embeddings: bool = False
    num_labels: Literal[1, 2] = 2  # 2 = softmax + cross-entropy, as the paper
    learning_rate: float = Field(default=1e-5, gt=0)
    lr_scheduler: str = "constant"
    warmup_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    epochs: float = Field(default=2.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=16, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    eval_steps: int = Field(default=200, ge=1)
    logging_steps: int = Field(default=10, ge=1)
    save_total_limit: int = Field(default=2, ge=1)
    seed: int = 42
    # None = bf16 mixed precision when the GPU supports it (the paper trained in bf16), else fp32.
    bf16: bool | None = None
    model_dtype: Literal["float32", "bfloat16"] = "float32"  # weights as loaded for training
    save_dtype: Literal["float32", "bfloat16"] = "float32"  # weights of the published checkpoint
    gradient_checkpointing: bool = False
    group_by_length: bool = True
    dataloader_workers: int = Field(default=0, ge=0)
    deepspeed: str | None = Field(
        default=None, description="DeepSpeed JSON config (ZeRO-2: configs/ds_zero2.json)"
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks must not repeat")
        if len(self.tasks) > 1:
            for task in self.tasks:
                self.task_prefix.setdefault(task, DEFAULT_TASK_PREFIX[task])
        unknown = [t.value for t in self.task_prefix if t not in self.tasks]
        if unknown:
            raise ValueError(f"task_prefix given for tasks the model does not train: {unknown}")
        if self.freeze_embeddings and not self.full_finetune:
            raise ValueError("freeze_embeddings is for full_finetune: true (LoRA keeps the embeddings fixed)")
        return self

    @property
    def joint(self) -> bool:
        return len(self.tasks) > 1

    def input_spec(self) -> InputSpec:
        return InputSpec(
            max_length=self.max_length,
            query_format=self.query_format,
            query_format_translated=self.query_format_translated,
            task_prefix=dict(self.task_prefix),
            uses_translation=self.uses_translation,
        )


@dataclass
class FinetuneResult:
    model_dir: Path  # adapter (LoRA) or full model of the best (or last) step, with `finetune.json`
    best_step: int  # the step whose eval F1 was best; the last step when there was no eval set
    total_steps: int
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, eval F1)
    loss_history: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss)
    eval_scores: np.ndarray | None = None  # relevance probabilities, in `eval` order
    # every evaluation's scores by step (ablations read a learning curve from one run)
    eval_scores_by_step: dict[int, np.ndarray] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Model, tokenizer, data


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ValueError(f"tokenizer of {path} has neither a pad nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token  # decoder bases (Qwen3, Gemma) pad with eos
    return tokenizer


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


def pad_id_of(model: PreTrainedModel) -> int:
    return int(model.config.pad_token_id)


def uses_token_types(model: PreTrainedModel) -> bool:
    return bool(getattr(model.config, "type_vocab_size", 0))


class EncodedDataset:
    """A map-style torch dataset of encoded pairs; items are dicts so `Trainer`'s length grouping works."""

    def __init__(self, encoded: Sequence[EncodedPair], labels: Sequence[int] | None) -> None:
        self.encoded = list(encoded)
        self.labels = None if labels is None else [int(x) for x in labels]

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> dict[str, Any]:
        e = self.encoded[index]
        item: dict[str, Any] = {"input_ids": e.input_ids, "token_type_ids": e.token_type_ids}
        if self.labels is not None:
            item["labels"] = self.labels[index]
        return item


class PairCollator:
    """`models.inference.collate` (pad with the tokenizer pad id) plus labels; no segment ids for decoders."""

    def __init__(self, *, pad_id: int, token_types: bool) -> None:
        self.pad_id = pad_id
        self.token_types = token_types

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from models.inference import collate

        batch = collate(
            [EncodedPair(i["input_ids"], i["token_type_ids"], False) for i in items], pad_id=self.pad_id
        )
        if not self.token_types:
            batch.pop("token_type_ids")
        if "labels" in items[0]:
            batch["labels"] = torch.tensor([i["labels"] for i in items], dtype=torch.long)
        return batch


def encode_examples(
    tokenizer: PreTrainedTokenizerBase, spec: InputSpec, examples: Sequence[Example]
) -> list[EncodedPair]:
    from models import PairEncoder

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
            "(set train.tasks to both for a joint model)"
        )


# ---------------------------------------------------------------------------------------------------
# Metrics


def f1_at(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    pred = scores >= threshold
    tp = float(np.sum(pred & (labels == 1)))
    denom = float(np.sum(pred)) + float(np.sum(labels == 1))
    return 0.0 if denom == 0 else 2.0 * tp / denom


class EvalMetrics:
    """`compute_metrics` for `Trainer`: positive-class F1 at 0.5, the mean over tasks for a joint model
    (the competition averaged QC and QI F1). Needs eval batches in dataset order (see `_Trainer`)."""

    def __init__(self, tasks: Sequence[Task], num_labels: int) -> None:
        self.tasks = np.array([t.value for t in tasks])
        self.num_labels = num_labels
        self.trainer: Any = None  # set once the Trainer exists, to read the step being evaluated
        # step -> eval scores, in eval order; the best step's become the fold's out-of-fold scores
        # without a second pass over the held-out data.
        self.scores_by_step: dict[int, np.ndarray] = {}

    def __call__(self, eval_pred: Any) -> dict[str, float]:
        from models import logits_to_scores

        logits = (
            eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        )
        scores = logits_to_scores(np.asarray(logits), self.num_labels)
        labels = np.asarray(eval_pred.label_ids).reshape(-1)
        if self.trainer is not None:
            self.scores_by_step[int(self.trainer.state.global_step)] = scores
        out: dict[str, float] = {}
        per_task = []
        for task in sorted(set(self.tasks.tolist())):
            mask = self.tasks == task
            out[f"f1_{task}"] = f1_at(labels[mask], scores[mask])
            per_task.append(out[f"f1_{task}"])
        out["f1"] = float(np.mean(per_task))
        return out


# ---------------------------------------------------------------------------------------------------
# Training


def _trainer_class():
    import torch
    from transformers import Trainer

    class RelevanceTrainer(Trainer):
        def _get_eval_sampler(self, eval_dataset):  # type: ignore[override]
            # Length grouping would shuffle eval batches; in order, metrics can be split by task.
            if self.args.world_size <= 1:
                return torch.utils.data.SequentialSampler(eval_dataset)
            return None

    return RelevanceTrainer


def _final_step_callback():
    from transformers import TrainerCallback

    class EvaluateLastStep(TrainerCallback):
        """Evaluate and save at the last step too, so the end of training competes for 'best'."""

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps and args.eval_strategy != "no":
                control.should_evaluate = True
                control.should_save = True
            return control

    return EvaluateLastStep()


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
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        eval_strategy=strategy,
        eval_steps=config.eval_steps,
        # Checkpoints at every eval (needed for `load_best_model_at_end`), else at eval_steps for resuming.
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_eval,
        metric_for_best_model="f1" if has_eval else None,
        greater_is_better=True,
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
    """Train on `train`, select the best step by F1 on `eval`, save it under `output_dir/final`.

    `init_from`: a merged classifier (e.g. from training on the other task first, the paper's
    cross-task pre-training) to start from instead of `config.base_model`.
    `resume`: continue from the newest checkpoint in `output_dir` when there is one.
    """
    from transformers import set_seed

    from models.inference import score_encoded
    from training.bases import resolve_base
    from training.data import atomic_write_text

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
    check_max_length(model, config.max_length)
    if config.gradient_checkpointing and hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    spec = config.input_spec()
    train_encoded = encode_examples(tokenizer, spec, train)
    truncated = sum(e.truncated for e in train_encoded)
    if truncated:
        log.info(
            "%d of %d training pairs truncated to max_length %d", truncated, len(train), config.max_length
        )
    train_ds = EncodedDataset(train_encoded, labels_of(train, "training data"))
    eval_encoded = encode_examples(tokenizer, spec, eval) if eval else None
    eval_ds = EncodedDataset(eval_encoded, labels_of(eval, "eval data")) if eval else None

    if not config.full_finetune:
        model = _wrap_lora(model, config)
    elif config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    args = training_arguments(config, output_dir, has_eval=eval_ds is not None)
    metrics = EvalMetrics([e.task for e in eval], config.num_labels) if eval else None
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=PairCollator(pad_id=tokenizer.pad_token_id, token_types=uses_token_types(model)),
        processing_class=tokenizer,
        compute_metrics=metrics,
        callbacks=[_final_step_callback()],
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
    best_step = getattr(state, "best_global_step", None)
    if best_step is None and state.best_model_checkpoint:
        best_step = int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[-1])
    best_step = int(best_step or state.global_step)

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
        "best_step": best_step,
        "total_steps": int(state.global_step),
        "history": history,
        "train_examples": len(train),
        "eval_examples": len(eval) if eval else 0,
    }
    if trainer.is_world_process_zero():
        # Written last: its presence marks a finished fine-tuning (the pipeline relies on it).
        atomic_write_text(final_dir / META_FILENAME, json.dumps(meta, indent=2) + "\n")

    scores = None
    if eval_encoded is not None:
        scores = metrics.scores_by_step.get(best_step)
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
    log.info(
        "fine-tuning done: %d steps, best step %d, eval F1 history %s", state.global_step, best_step, history
    )
    return FinetuneResult(
        model_dir=final_dir,
        best_step=best_step,
        total_steps=int(state.global_step),
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
        description="Fine-tune a classifier on a training file, optionally selecting the best step on an "
        "eval file. The training options come from a YAML run config's `train:` section. For a whole "
        "cross-validated run use `run --config`.",
    )
    p.add_argument(
        "--config", required=True, type=Path, help="YAML run config (its `train:` section is used)"
    )
    p.add_argument("--train", required=True, type=Path, help="training data (JSONL or CSV)")
    p.add_argument("--eval", type=Path, help="held-out data to pick the best step on (F1 every eval_steps)")
    p.add_argument("--output-dir", required=True, type=Path, help="where checkpoints and `final/` go")
    p.add_argument(
        "--init-from", type=Path, help="start from this merged classifier (cross-task pre-training)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --output-dir"
    )
    p.set_defaults(handler=_cli)


def _cli(args: argparse.Namespace) -> int:
    from training.data import load_examples
    from training.pipeline import load_run_config

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
