"""A bi-encoder checkpoint on vLLM: the embed runner embeds each side (its sentence-transformers pooling,
Dense and Normalize modules read by vLLM), the card's head scores the pair; scores equal torch's."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from service_helpers import make_settings, running
from vllm_helpers import KVCACHE_BYTES

from models import PairInput, Task, open_checkpoint
from models.loading import load_model, load_pair_encoder
from service.app import create_app

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PAIRS = [
    ("ドライヤー", "home appliances,personal care appliances,hair dryers"),
    ("peluche stitch", "toys & hobbies,stuffed animals & plush"),
    ("peluche stitch", "home appliances,personal care appliances,hair dryers"),
    ("zapatillas running mujer " * 12, "sports,running shoes"),  # a long query: its side is cut
]


@pytest.fixture(scope="module")
def checkpoint(biencoder_run):
    return open_checkpoint(biencoder_run[1]["checkpoint"])


def torch_scores(checkpoint, encoded) -> np.ndarray:
    return load_model(checkpoint).score_pairs(encoded)


def test_offline_vllm_scores_equal_torch(checkpoint) -> None:
    from training.predict_vllm import score_with_vllm

    encoded = load_pair_encoder(checkpoint).encode_batch(
        [PairInput(task=Task.QC, query=q, target=t) for q, t in PAIRS] * 2
    )
    assert any(e.truncated for e in encoded)
    got = score_with_vllm(
        checkpoint, encoded, progress=False, engine_options={"kv_cache_memory_bytes": KVCACHE_BYTES}
    )
    want = torch_scores(checkpoint, encoded)
    assert np.ptp(want) > 1e-4
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_served_on_vllm_equals_torch(checkpoint) -> None:
    settings = make_settings(
        model=str(checkpoint.path),
        backend="vllm",
        cache_size=0,
        backend_options={"kv_cache_memory_bytes": KVCACHE_BYTES},
        request_timeout_s=60.0,
    )
    encoded = load_pair_encoder(checkpoint).encode_batch(
        [PairInput(task=Task.QC, query=q, target=t) for q, t in PAIRS]
    )
    want = torch_scores(checkpoint, encoded)
    with running(create_app(settings), timeout=900) as url:
        body = {"pairs": [{"query": q, "category_path": t} for q, t in PAIRS]}
        for _ in range(2):  # the second time the targets come from the backend's target cache
            r = httpx.post(f"{url}/v1/relevance/qc", json=body, timeout=120)
            assert r.status_code == 200, r.text
            got = [res["score"] for res in r.json()["results"]]
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        models = httpx.get(f"{url}/v1/models", timeout=10).json()["models"]
        assert models[0]["backend"] == "vllm" and models[0]["card"]["kind"] == "bi-encoder"
