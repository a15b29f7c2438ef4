"""A BERT-style encoder through vLLM: its segment ids must reach the model, or the target side is scored
as segment 0 and the score drifts from torch's (a TokensPrompt carries token ids only)."""

from __future__ import annotations

import numpy as np
import pytest
import tiny
from vllm_helpers import mixed_pairs, offline_and_torch_scores

from models import PairEncoder, Task, open_checkpoint

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_encoder_scores_with_segment_ids_equal_torch(tmp_path) -> None:
    from models.loading import load_tokenizer
    from models.vllm_engine import uses_token_types

    # head_dim 32: the smallest vLLM's CPU attention takes.
    path = tiny.card_checkpoint(tmp_path / "bert-qc", tasks=(Task.QC,), name="bert-qc", head_dim=32)
    checkpoint = open_checkpoint(path)
    assert uses_token_types(checkpoint)
    encoder = PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input)
    encoded = encoder.encode_batch(mixed_pairs((Task.QC,)) * 2)
    assert all(1 in e.token_type_ids for e in encoded)

    got, want = offline_and_torch_scores(checkpoint, encoded, vllm_batch_size=5)
    assert np.ptp(want) > 1e-4  # scores vary across inputs: a constant output cannot pass
    assert np.abs(got - want).max() <= 1e-5
