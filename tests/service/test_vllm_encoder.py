"""A BERT-style encoder through vLLM: its segment ids must reach the model, or the target side is scored
as segment 0 and the score drifts from torch's (a TokensPrompt carries token ids only)."""

from __future__ import annotations

import numpy as np
import pytest
import tiny
from vllm_helpers import KVCACHE_BYTES, mixed_pairs

from models import PairEncoder, Task, open_checkpoint

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_encoder_scores_with_segment_ids_equal_torch(tmp_path) -> None:
    from models.inference import score_encoded
    from models.loading import load_model, load_tokenizer
    from models.vllm_engine import uses_token_types
    from training.predict_vllm import score_with_vllm

    # head_dim 32: the smallest vLLM's CPU attention takes.
    path = tiny.card_checkpoint(tmp_path / "bert-qc", tasks=(Task.QC,), name="bert-qc", head_dim=32)
    checkpoint = open_checkpoint(path)
    assert uses_token_types(checkpoint)
    encoder = PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input)
    encoded = encoder.encode_batch(mixed_pairs((Task.QC,)) * 2)
    assert all(1 in e.token_type_ids for e in encoded)

    got = score_with_vllm(
        checkpoint,
        encoded,
        batch_size=5,
        progress=False,
        engine_options={"kv_cache_memory_bytes": KVCACHE_BYTES},
    )
    model = load_model(checkpoint)
    want = score_encoded(model, encoded, pad_id=load_tokenizer(checkpoint).pad_token_id)
    assert np.ptp(want) > 1e-4  # scores vary across inputs: a constant output cannot pass
    assert np.abs(got - want).max() <= 1e-5
