"""Bulk scoring through vLLM's offline `LLM.classify` equals the torch forward pass."""

from __future__ import annotations

import numpy as np
import pytest
from vllm_helpers import decoder_checkpoint, mixed_pairs, offline_and_torch_scores

from models import EncodedPair, PairEncoder, Task, open_checkpoint

pytest.importorskip("vllm")
pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):
    path = decoder_checkpoint(
        tmp_path_factory.mktemp("vllm-offline") / "qwen3-joint-1label",
        arch="qwen3",
        tasks=(Task.QC, Task.QI),
        num_labels=1,
        name="qwen3-joint-1label",
    )
    return open_checkpoint(path)


@pytest.mark.slow
def test_score_with_vllm_equals_torch(checkpoint) -> None:
    from models.loading import load_tokenizer

    encoder = PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input)
    encoded = encoder.encode_batch(mixed_pairs((Task.QC, Task.QI)) * 3)
    assert any(e.truncated for e in encoded)

    # batch_size smaller than the input: several classify calls, results stitched back in input order.
    got, want = offline_and_torch_scores(checkpoint, encoded, vllm_batch_size=7, torch_batch_size=16)

    assert got.dtype == np.float64 and got.shape == (len(encoded),)
    assert np.ptp(want) > 1e-3
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)


def test_score_with_vllm_refuses_bad_input_before_starting_an_engine(checkpoint) -> None:
    from training.predict_vllm import score_with_vllm

    too_long = EncodedPair(input_ids=[1] * 500, token_type_ids=[0] * 500, truncated=False)
    with pytest.raises(ValueError, match="exceed the card's max_length 48"):
        score_with_vllm(checkpoint, [too_long], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        score_with_vllm(checkpoint, [], batch_size=0)
    assert score_with_vllm(checkpoint, [], progress=False).shape == (0,)


def test_engine_options_cannot_change_what_the_checkpoint_decides(checkpoint) -> None:
    from models.vllm_engine import engine_kwargs

    kwargs = engine_kwargs(checkpoint, max_num_seqs=8)
    assert kwargs["runner"] == "pooling" and kwargs["convert"] == "classify"
    assert kwargs["max_model_len"] == 48 and kwargs["dtype"] == "float32" and kwargs["max_num_seqs"] == 8
    assert "hf_overrides" not in kwargs  # vLLM maps Qwen3ForSequenceClassification by itself
    with pytest.raises(ValueError, match="cannot be overridden"):
        engine_kwargs(checkpoint, max_model_len=4096)
    with pytest.raises(ValueError, match="unknown dtype"):
        engine_kwargs(checkpoint, dtype="int3")
