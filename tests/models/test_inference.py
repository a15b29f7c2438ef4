"""The shared batched forward pass: packing by length, input order, equality with one-by-one scoring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import PairInput, Task, open_checkpoint
from models.formatting import PairEncoder
from models.inference import CompiledModel, forward_scores, pack_sorted, score_encoded
from models.loading import load_model, load_tokenizer


@given(
    lengths=st.lists(st.integers(1, 128), max_size=300).map(sorted),
    max_pairs=st.integers(1, 70),
    max_tokens=st.integers(128, 5000),
    cost=st.one_of(st.none(), st.integers(0, 100)),
)
def test_pack_sorted_covers_everything_in_order_within_budgets(lengths, max_pairs, max_tokens, cost) -> None:
    batches = pack_sorted(lengths, max_pairs=max_pairs, max_tokens=max_tokens, batch_cost_tokens=cost)
    assert [i for batch in batches for i in batch] == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) >= 1
        assert len(batch) <= max_pairs
        assert len(batch) * lengths[batch[-1]] <= max_tokens
        if cost is not None:  # no row inside a batch was padded by more than a new batch costs
            for i in batch[1:]:
                assert (i - batch.start) * (lengths[i] - lengths[i - 1]) <= cost


def test_pack_sorted_cuts_at_a_costly_width_jump_and_not_otherwise() -> None:
    lengths = [10] * 8 + [14] * 8 + [40] * 3
    # 8 rows widened 10 -> 14 pad 32 tokens (> 28): cut; 16 rows widened 14 -> 40 pad far more: cut.
    assert pack_sorted(lengths, max_pairs=64, max_tokens=10_000) == [range(0, 8), range(8, 16), range(16, 19)]
    assert pack_sorted(lengths, max_pairs=64, max_tokens=10_000, batch_cost_tokens=40) == [
        range(0, 16),
        range(16, 19),
    ]
    assert pack_sorted(lengths, max_pairs=6, max_tokens=10_000, batch_cost_tokens=None) == [
        range(0, 6),
        range(6, 12),
        range(12, 18),
        range(18, 19),
    ]
    assert pack_sorted([], max_pairs=4, max_tokens=100) == []


def test_score_encoded_keeps_input_order_and_equals_scoring_each_pair_alone(qc_checkpoint) -> None:
    checkpoint = open_checkpoint(qc_checkpoint)
    model = load_model(checkpoint)
    encoder = PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input)
    texts = ["a", "b c d e f g h", "short", "a much longer query with many many words in it", "x y"]
    encoded = encoder.encode_batch(
        [PairInput(task=Task.QC, query=q, target=f"cat,{t}") for q in texts for t in texts]
    )
    pad = model.config.pad_token_id
    together = score_encoded(model, encoded, pad_id=pad, batch_size=8)
    alone = [forward_scores(model, [e], pad_id=pad)[0] for e in encoded]
    assert together == pytest.approx(alone, abs=1e-6)
    assert len(set(together.round(6))) > 5  # the pairs really score differently


@pytest.mark.slow
def test_compiled_models_match_eager_and_release_their_weights(tmp_path) -> None:
    """A hot-reloading service compiles model after model: each must score like its eager self, and a
    released one must leave memory (dynamo's and inductor's caches would otherwise keep it for good)."""
    import gc
    import weakref

    import tiny

    released: list[weakref.ref] = []
    previous = None
    for seed in range(3):
        path = tiny.card_checkpoint(tmp_path / f"m{seed}", name=f"m{seed}", seed=seed)
        checkpoint = open_checkpoint(path)
        model = load_model(checkpoint)
        encoder = PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input)
        pairs = encoder.encode_batch(
            [PairInput(task=Task.QC, query=q, target="bags,handbags") for q in ("x", "a b c d", "tote bag")]
        )
        compiled = CompiledModel(model)
        compiled.warm_up([pairs, pairs[:1]], pad_id=0)
        for batch in (pairs, pairs[:1]):
            eager = forward_scores(model, batch, pad_id=0)
            assert forward_scores(compiled, batch, pad_id=0) == pytest.approx(eager, abs=1e-6)
        if previous is not None:
            previous.release()
        previous = compiled
        released.append(weakref.ref(model.get_input_embeddings().weight))
        del model, compiled
        gc.collect()
    assert [ref() is None for ref in released] == [True, True, False]  # only the live model remains
    previous.release()
