"""Logits -> calibrated relevance probability, the same way for training, evaluation and serving."""

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
