"""The vLLM backend on vLLM's real CPU engine: scores equal the torch forward pass on identical token ids.

One engine for the module: a Qwen3 QC classifier with two labels (softmax over two logits). The joint
Gemma-3-text classifier with one label (sigmoid, loaded through the Gemma3ForCausalLM override) is served
in `test_vllm_http.py`, and a one-label Qwen3 in `test_vllm_offline.py`: each engine start costs ~40 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from service_helpers import make_settings
from vllm_helpers import KVCACHE_BYTES, LoopThread, decoder_checkpoint, mixed_pairs

from models import Checkpoint, PairEncoder, Task, open_checkpoint
from service.backends import Backend, load_backend
from service.encoding import load_encoder

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]

TOLERANCE = 1e-3  # fp32 on both sides; vLLM's kernels differ from torch's only in summation order


@dataclass
class Served:
    backend: Backend
    checkpoint: Checkpoint
    encoder: PairEncoder  # the service's encoder for the checkpoint (tokenization is not the backend's)
    loop: LoopThread


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


VARIANTS = {
    "qwen3-qc-2labels": dict(arch="qwen3", tasks=(Task.QC,), num_labels=2),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def served(request, tmp_path_factory: pytest.TempPathFactory, loop: LoopThread) -> Iterator[Served]:
    spec = VARIANTS[request.param]
    path = decoder_checkpoint(tmp_path_factory.mktemp("vllm") / request.param, name=request.param, **spec)
    checkpoint = open_checkpoint(path)
    settings = make_settings(backend="vllm", backend_options={"kv_cache_memory_bytes": KVCACHE_BYTES})
    backend = loop.run(load_backend(checkpoint, settings), timeout=600)
    try:
        yield Served(backend=backend, checkpoint=checkpoint, encoder=load_encoder(checkpoint), loop=loop)
    finally:
        loop.run(backend.close(), timeout=120)


def torch_scores(checkpoint: Checkpoint, encoded) -> np.ndarray:
    from models.inference import score_encoded
    from models.loading import load_model

    model = load_model(checkpoint)
    return score_encoded(model, encoded, pad_id=model.config.pad_token_id, batch_size=5)


def test_backend_contract(served: Served) -> None:
    backend = served.backend
    assert isinstance(backend, Backend)
    assert backend.name == "vllm"
    assert backend.limits.max_model_len == served.checkpoint.card.input.max_length
    assert served.loop.run(backend.healthy())
    assert served.loop.run(backend.score([])) == []


def test_scores_equal_torch_on_mixed_multilingual_batch(served: Served) -> None:
    card = served.checkpoint.card
    pairs = mixed_pairs(tuple(card.tasks))
    encoded = served.encoder.encode_batch(pairs)
    assert any(e.truncated for e in encoded) and not all(e.truncated for e in encoded)
    assert max(e.num_tokens for e in encoded) == card.input.max_length

    got = np.asarray(served.loop.run(served.backend.score(encoded)))
    want = torch_scores(served.checkpoint, encoded)

    assert got.shape == want.shape
    assert np.all((got > 0) & (got < 1))
    assert np.ptp(want) > 1e-3, "random model scores everything alike; the comparison would prove nothing"
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


def test_concurrent_batches_keep_their_order(served: Served) -> None:
    """Many batches in flight at once interleave inside vLLM; each still gets its own scores in order."""
    import asyncio

    pairs = mixed_pairs(tuple(served.checkpoint.card.tasks))
    encoded = served.encoder.encode_batch(pairs)
    want = torch_scores(served.checkpoint, encoded)
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(encoded)) for _ in range(12)]

    async def all_batches():
        return await asyncio.gather(*(served.backend.score([encoded[i] for i in o]) for o in orders))

    for order, got in zip(orders, served.loop.run(all_batches()), strict=True):
        np.testing.assert_allclose(got, want[order], atol=TOLERANCE, rtol=0)


def test_vllm_metrics_are_exposed(served: Served) -> None:
    families = {f.name: f for c in served.backend.metrics_registries() for f in c.collect()}
    assert families and all(name.startswith("vllm:") for name in families)
    assert "vllm:num_requests_running" in families
    prompt_tokens = [
        s.value for s in families["vllm:prompt_tokens"].samples if s.name == "vllm:prompt_tokens_total"
    ]
    assert prompt_tokens and sum(prompt_tokens) > 0


def test_vllm_own_activation_agrees_with_logits_to_scores(served: Served) -> None:
    """Why raw logits are safe: for this config vLLM's default classify activation (softmax over two
    labels) gives the same class-1 probability that `models.logits_to_scores` computes from the logits."""
    from vllm import PoolingParams, TokensPrompt

    encoded = served.encoder.encode_batch(mixed_pairs(tuple(served.checkpoint.card.tasks)))
    ours = served.loop.run(served.backend.score(encoded))

    async def vllm_probs(pair, n: int) -> list[float]:
        final = None
        async for out in served.backend.engine.encode(
            TokensPrompt(prompt_token_ids=pair.input_ids),
            PoolingParams(task="classify"),
            request_id=f"act-{n}",
        ):
            final = out
        return final.outputs.data.float().tolist()

    async def all_probs():
        import asyncio

        return await asyncio.gather(*(vllm_probs(p, n) for n, p in enumerate(encoded)))

    probs = np.asarray(served.loop.run(all_probs()))
    assert probs.shape == (len(encoded), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs[:, 1], ours, atol=1e-5, rtol=0)
