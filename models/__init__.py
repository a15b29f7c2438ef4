"""The checkpoint contract shared by `training` and `service`, and the local model store.

Imports here stay light (pydantic, tokenizers-free); torch and transformers are imported only by
`models.loading`, so reading a card does not pull a deep-learning stack.
"""

from models.card import CARD_FILENAME, FORMAT_VERSION, InputSpec, ModelCard, Task, TaskMetrics
from models.checkpoint import Checkpoint, CheckpointError, card_model_dir, open_checkpoint, weights_sha256
from models.formatting import EncodedPair, PairEncoder, PairInput, encode_pair, format_query, format_target
from models.scores import logits_to_scores
from models.store import ModelStore

__all__ = [
    "CARD_FILENAME",
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
    "card_model_dir",
    "encode_pair",
    "format_query",
    "format_target",
    "logits_to_scores",
    "open_checkpoint",
    "weights_sha256",
]
