"""The checkpoint contract shared by `training` and `service`, and the local model store.

Imports here stay light (pydantic, tokenizers-free); torch and transformers are imported only by
`models.loading`, so reading a card does not pull a deep-learning stack.
"""

from models.card import CARD_FILENAME, FORMAT_VERSION, InputSpec, ModelCard, TaskMetrics, TranslationSpec
from models.checkpoint import Checkpoint, CheckpointError, card_model_dir, open_checkpoint, weights_sha256
from models.formatting import EncodedPair, PairEncoder, PairInput, format_query, format_target
from models.scores import DEFAULT_THRESHOLD, check_threshold, is_relevant, logits_to_scores
from models.store import ModelStore
from models.tasks import (
    Task,
    TaskSpec,
    UnknownTaskError,
    register_task,
    registered_tasks,
    task_spec,
    unregister_task,
)

__all__ = [
    "CARD_FILENAME",
    "DEFAULT_THRESHOLD",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "EncodedPair",
    "InputSpec",
    "ModelCard",
    "ModelStore",
    "PairEncoder",
    "PairInput",
    "Task",
    "TaskMetrics",
    "TaskSpec",
    "TranslationSpec",
    "UnknownTaskError",
    "card_model_dir",
    "check_threshold",
    "format_query",
    "format_target",
    "is_relevant",
    "logits_to_scores",
    "open_checkpoint",
    "register_task",
    "registered_tasks",
    "task_spec",
    "unregister_task",
    "weights_sha256",
]
