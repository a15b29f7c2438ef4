"""The batched forward pass shared by training (evaluation, merge check, predict) and the torch backend.

Keeping it in one place is what makes a served score equal the offline score bit for bit on the same
device and dtype: same encoder, same padding, same logits-to-probability map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from models.formatting import EncodedPair
from models.scores import logits_to_scores

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel


def collate(
    batch: Sequence[EncodedPair], *, pad_id: int, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Right-pad a batch into tensors; classifier heads find the last non-pad token themselves."""
    import torch

    width = max(e.num_tokens for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = e.num_tokens
        ids[row, :n] = torch.tensor(e.input_ids)
        types[row, :n] = torch.tensor(e.token_type_ids)
        mask[row, :n] = 1
    return {
        "input_ids": ids.to(device),
        "token_type_ids": types.to(device),
        "attention_mask": mask.to(device),
    }


def forward_scores(model: PreTrainedModel, batch: Sequence[EncodedPair], *, pad_id: int) -> np.ndarray:
    """Relevance probabilities for one batch, in batch order."""
    import torch

    inputs = collate(batch, pad_id=pad_id, device=model.device)
    if not getattr(model.config, "type_vocab_size", 0):
        inputs.pop("token_type_ids")  # decoder models take no segment ids
    with torch.inference_mode():
        logits = model(**inputs).logits
    return logits_to_scores(logits.float().cpu().numpy(), model.config.num_labels)


def score_encoded(
    model: PreTrainedModel,
    encoded: Sequence[EncodedPair],
    *,
    pad_id: int,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "scoring",
) -> np.ndarray:
    """Score many pairs in length-sorted batches (less padding), returned in input order."""
    order = sorted(range(len(encoded)), key=lambda i: encoded[i].num_tokens)
    scores = np.empty(len(encoded), dtype=np.float64)
    starts = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch")
    for start in starts:
        idx = order[start : start + batch_size]
        scores[idx] = forward_scores(model, [encoded[i] for i in idx], pad_id=pad_id)
    return scores
