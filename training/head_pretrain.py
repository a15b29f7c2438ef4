"""Cross-task pre-training for the bi-encoder recipe: each MLP head of a fold (and of the final model)
starts from a head trained on another task's labelled rows — the paper's first stage, on frozen embeddings.

    pretrain:
      task: qi
      data: runs/data/qi_quarter.jsonl
      embeddings_cache: runs/qi-embeddinggemma-head-quarter/embeddings-L128   # optional: reuse that run's

The other task's rows are embedded by the run's own encoder (same base, max_length, dtype: its cache
folder is checked like the run's) into the run's head inputs. For fold k the rows sharing a query with
fold k's held-out rows are dropped first (`training.splits.drop_held_out_queries`, the leak rule); the
final model pre-trains on all of them. Seed s of the ensemble continues the head pre-trained from seed s
(`training.head_fit.pretrain_heads`), with a fresh optimiser and the run's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

from models import Task

if TYPE_CHECKING:
    import torch

    from training.data import Example


class HeadPretrain(BaseModel):
    """Where a run's heads are pre-trained: another task's labelled file."""

    model_config = ConfigDict(extra="forbid")

    task: Task
    data: Path
    # The folder of its embeddings (default: the run's own): e.g. the other task's head run's folder.
    embeddings_cache: Path | None = None


@dataclass(frozen=True)
class PretrainRows:
    """The other task's rows as head inputs."""

    examples: list[Example]
    x: torch.Tensor
    labels: torch.Tensor

    def kept(self, held_out: Sequence[Example]) -> np.ndarray:
        """Which rows the leak rule keeps when `held_out` is scored, as a mask."""
        from training.splits import held_out_query_mask

        return held_out_query_mask(self.examples, held_out)


def load_pretrain_examples(spec: HeadPretrain, *, task: Task, kind: str) -> list[Example]:
    """The pre-training rows, refusing what pre-training cannot mean (the run's own task, a head whose fit
    is exact, a missing file, rows without labels) before anything is embedded."""
    from training.data import load_examples

    if spec.task == task:
        raise ValueError(f"pretrain.task is the run's own task ({task.value}): pre-train on another task")
    if kind != "mlp":
        raise ValueError("pretrain continues MLP heads; a linear head's fit is exact (head.kind: mlp)")
    if not Path(spec.data).is_file():
        raise FileNotFoundError(f"pretrain data {spec.data} not found")
    return load_examples(spec.data, task=spec.task)[0]  # labelled rows of that task, or a DataError
