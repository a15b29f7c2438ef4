"""The pieces `finetune` hands to HF `Trainer`: the dataset, the collator, the eval metric, the Trainer
subclass and its callback. All at module level (as sentence-transformers keeps its trainer pieces), so they
can be read, tested and subclassed on their own.

This module imports torch and transformers at the top; `training.finetune` imports it inside `finetune()`,
so `python -m training --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from models import EncodedPair, Task, logits_to_scores
from models.inference import collate
from models.scores import DEFAULT_THRESHOLD, is_relevant


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
    """`models.inference.collate` (pad with the tokenizer pad id) plus labels; segment ids only for models
    that read them (`models.inference.uses_token_types`)."""

    def __init__(self, *, pad_id: int, token_types: bool) -> None:
        self.pad_id = pad_id
        self.token_types = token_types

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate(
            [EncodedPair(i["input_ids"], i["token_type_ids"], False) for i in items], pad_id=self.pad_id
        )
        if not self.token_types:
            batch.pop("token_type_ids")
        if "labels" in items[0]:
            batch["labels"] = torch.tensor([i["labels"] for i in items], dtype=torch.long)
        return batch


def f1_at(labels: np.ndarray, scores: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Positive-class F1 of the decision `models.scores.is_relevant(score, threshold)`."""
    pred = is_relevant(scores, threshold)
    tp = float(np.sum(pred & (labels == 1)))
    denom = float(np.sum(pred)) + float(np.sum(labels == 1))
    return 0.0 if denom == 0 else 2.0 * tp / denom


class EvalMetrics:
    """`compute_metrics` for `Trainer`: positive-class F1 at the default threshold, the mean over tasks for
    a joint model (the competition averaged QC and QI F1). Needs eval batches in dataset order (see
    `RelevanceTrainer`)."""

    def __init__(self, tasks: Sequence[Task], num_labels: int) -> None:
        self.tasks = np.array([t.value for t in tasks])
        self.num_labels = num_labels
        self.trainer: Any = None  # set once the Trainer exists, to read the step being evaluated
        # step -> eval scores, in eval order; the last step's become the fold's out-of-fold scores
        # without a second pass over the held-out data.
        self.scores_by_step: dict[int, np.ndarray] = {}

    def __call__(self, eval_pred: Any) -> dict[str, float]:
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


class RelevanceTrainer(Trainer):
    """`Trainer` that evaluates in dataset order, so `EvalMetrics` can split the scores by task, with one
    loss scale for every architecture."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The loss is each micro-batch's mean, divided by the accumulation steps, averaged over processes
        # by DDP: the mean over the effective batch, however it is split. Trainer's default trusts any
        # model whose forward takes **kwargs (all of them in transformers 5) to divide by the example count
        # of the whole step; decoder heads do, BERT-style heads (a plain mean) do not, and their gradient
        # came out grad_accum x processes times too large, so results changed with the GPU count.
        self.model_accepts_loss_kwargs = False

    def _get_eval_sampler(self, eval_dataset):  # type: ignore[override]
        # Length grouping would shuffle eval batches; in order, metrics can be split by task. Under DDP no
        # sampler means in order too: each process takes every other batch and Trainer's gather puts
        # them back in order (dropping the repeats that even out the last batch), for all examples.
        if self.args.world_size <= 1:
            return torch.utils.data.SequentialSampler(eval_dataset)
        return None


class EvaluateLastStep(TrainerCallback):
    """Evaluate and save at the last step too: the last step's scores are the held-out scores."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps and args.eval_strategy != "no":
            control.should_evaluate = True
            control.should_save = True
        return control
