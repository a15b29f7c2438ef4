"""The bi-encoder model kind: pair encoding, the head, the target cache, the vLLM refusal."""

from __future__ import annotations

import math

import pytest
import torch

from models import InputSpec, PairInput, Task, open_checkpoint
from models.biencoder import BiEncoderModel, BiPairEncoder, split_pair
from models.embedding import SentenceEncoder, SentenceTokenizer
from models.head import RelevanceHead, head_inputs
from models.loading import load_model, load_pair_encoder

PAIRS = [
    PairInput(task=Task.QC, query="bolso de mujer", target="luggage & bags,women's handbags"),
    PairInput(task=Task.QC, query="running shoes", target=["sports", "running shoes"]),
    PairInput(task=Task.QC, query="coque téléphone", target="luggage & bags,women's handbags"),
]


@pytest.fixture(scope="module")
def checkpoint(biencoder_run):
    _, record = biencoder_run
    return open_checkpoint(record["checkpoint"])


def test_pair_is_query_ids_then_target_ids_with_prompts(checkpoint) -> None:
    encoder = load_pair_encoder(checkpoint)
    assert isinstance(encoder, BiPairEncoder)
    text = SentenceTokenizer.load(checkpoint.path)
    pair = encoder.encode(PAIRS[0])
    q, t = split_pair(pair)
    assert list(q) == text.tokenize(["bolso de mujer"], prompt_name="query")[0]
    assert list(t) == text.tokenize(["luggage & bags,women's handbags"], prompt_name="document")[0]
    assert pair.token_type_ids == [0] * len(q) + [1] * len(t)
    assert not pair.truncated


def test_long_sides_are_cut_and_flagged(checkpoint) -> None:
    spec = InputSpec(max_length=12)
    encoder = BiPairEncoder(SentenceTokenizer.load(checkpoint.path), spec)
    pair = encoder.encode(PairInput(task=Task.QC, query="bolso " * 40, target="a,b"))
    q, _ = split_pair(pair)
    assert pair.truncated and len(q) == 12


def test_ids_past_the_embedding_table_become_unk(checkpoint) -> None:
    text = SentenceTokenizer.load(checkpoint.path)
    full = text.tokenize(["bolso de mujer running"])[0]
    text.vocab_rows = sorted(full)[-1]  # the largest id no longer has a row
    mapped = text.tokenize(["bolso de mujer running"])[0]
    assert max(mapped) < text.vocab_rows
    assert mapped.count(text.tokenizer.unk_token_id) >= 1


def test_scores_are_the_head_over_both_embeddings(checkpoint) -> None:
    model = load_model(checkpoint)
    assert isinstance(model, BiEncoderModel)
    encoded = load_pair_encoder(checkpoint).encode_batch(PAIRS)
    scores = model.score_pairs(encoded)
    encoder = SentenceEncoder.load(checkpoint.path)
    head = RelevanceHead.load(checkpoint.path)
    assert head.kind == "mlp" and head.lexicon is None
    for pair, score in zip(encoded, scores, strict=True):
        q, t = split_pair(pair)
        x = head_inputs(encoder.embed_ids([q]), encoder.embed_ids([t]), kind="mlp")
        expected = torch.sigmoid(head.net(x)).item()
        assert math.isclose(score, expected, abs_tol=1e-6)


def test_repeated_targets_are_embedded_once(checkpoint) -> None:
    model = load_model(checkpoint)
    calls: list[int] = []
    embed = model.encoder.embed_ids
    model.encoder.embed_ids = lambda ids: calls.append(len(ids)) or embed(ids)
    encoded = load_pair_encoder(checkpoint).encode_batch(PAIRS)
    first = model.score_pairs(encoded)
    assert sum(calls) == 3 + 2  # three distinct queries, two distinct targets
    calls.clear()
    again = model.score_pairs(encoded)
    assert sum(calls) == 3  # the targets come from the cache
    assert again.tolist() == pytest.approx(first.tolist(), abs=1e-7)


def test_vllm_engine_embeds_a_bi_encoder(checkpoint) -> None:
    from models.vllm_engine import engine_kwargs

    kwargs = engine_kwargs(checkpoint)
    assert kwargs["runner"] == "pooling" and kwargs["convert"] == "embed" and "hf_overrides" not in kwargs


def test_bi_encoder_in_bfloat16_scores_close_to_float32(checkpoint) -> None:
    encoded = load_pair_encoder(checkpoint).encode_batch(PAIRS)
    fp32 = load_model(checkpoint).score_pairs(encoded)
    bf16 = load_model(checkpoint, dtype="bfloat16").score_pairs(encoded)
    assert bf16.dtype == fp32.dtype and abs(bf16 - fp32).max() < 2e-2
