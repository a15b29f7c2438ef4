"""Logits -> calibrated relevance probability, and the decision rule on it, the same way for training,
evaluation and serving."""

from __future__ import annotations

import numpy as np


def logits_to_scores(logits: np.ndarray, num_labels: int) -> np.ndarray:
    """Probability of the positive class for each row of `logits` (shape [n, num_labels] or [n])."""
    logits = np.asarray(logits, dtype=np.float64)
    if num_labels == 1:
        return 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"expected logits of shape [n, 2], got {logits.shape}")
    # softmax over two classes == sigmoid of the logit difference; numerically stable.
    return 1.0 / (1.0 + np.exp(-(logits[:, 1] - logits[:, 0])))


# The decision threshold when neither a request nor a card gives one.
DEFAULT_THRESHOLD = 0.5


def check_threshold(value: float, *, what: str = "threshold") -> float:
    """A threshold is a probability; anything else is refused with a message naming `what`."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {value}")
    return value


def is_relevant(score: float | np.ndarray, threshold: float) -> bool | np.ndarray:
    """The one decision rule: a pair is relevant when its score reaches the threshold."""
    return score >= threshold
