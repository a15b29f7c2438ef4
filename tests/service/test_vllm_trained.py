"""vLLM scores equal torch scores on classifiers made by OUR training and merge, not only on random ones.

Each model is LoRA-fine-tuned for a few steps on the project's multilingual sample data with
`training.finetune`, merged and published with `training.merge.merge_to_checkpoint` (which itself checks
merged == adapter), then scored on a mixed multilingual batch with truncated pairs by vLLM and by
`models.inference.score_encoded`. One engine per model (~40 s each):

- tiny Qwen3, joint QC+QI, two labels -> offline `training.predict_vllm.score_with_vllm`;
- tiny Gemma-3-text, QC, one label -> the service's `service.backends.vllm` (AsyncLLM);
- gemma-3-270m (real weights, built from its GGUF packages), QC, two labels -> the service backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from service_helpers import make_settings
from vllm_helpers import KVCACHE_BYTES, LoopThread, mixed_pairs

from models import Checkpoint, EncodedPair, ModelStore, PairEncoder, Task, open_checkpoint

pytest.importorskip("vllm")
pytestmark = pytest.mark.vllm

TOLERANCE = 1e-3  # fp32 on both sides; kernels differ from torch's only in summation order
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "training" / "sample_data"
SAMPLE_FILES = {Task.QC: SAMPLE_DIR / "qc_sample.jsonl", Task.QI: SAMPLE_DIR / "qi_sample.jsonl"}


def sample_examples(task: Task, n: int, *, offset: int = 0):
    """`n` labelled pairs of the sample data: many languages and scripts, both labels."""
    from training.data import load_examples

    examples, _ = load_examples(SAMPLE_FILES[task], task=task)
    return examples[offset : offset + n]


def train_and_merge(root: Path, *, base: Path, name: str, tasks: Sequence[Task], **overrides) -> Checkpoint:
    """Our real LoRA `finetune` + `merge_to_checkpoint`, published into a store under `root`."""
    from training.finetune import TrainConfig, finetune
    from training.merge import merge_to_checkpoint

    config = TrainConfig(base_model=str(base), tasks=list(tasks), **overrides)
    per_task = max(8, 2 * config.batch_size * (config.max_steps or 1) // len(tasks))
    train = [e for t in tasks for e in sample_examples(t, per_task)]
    result = finetune(train=train, eval=None, config=config, output_dir=root / "run")
    check = [e for t in tasks for e in sample_examples(t, 6, offset=per_task)]
    path = merge_to_checkpoint(
        model_dir=result.model_dir,
        config=config,
        name=name,
        store=ModelStore(root / "models"),
        thresholds=dict.fromkeys(tasks, 0.5),
        check_examples=check,
    )
    checkpoint = open_checkpoint(path)
    assert checkpoint.card.num_labels == config.num_labels and checkpoint.card.dtype == "float32"
    return checkpoint


def encode_mixed(checkpoint: Checkpoint) -> list[EncodedPair]:
    from models.loading import load_tokenizer

    card = checkpoint.card
    encoded = PairEncoder(load_tokenizer(checkpoint), card.input).encode_batch(mixed_pairs(tuple(card.tasks)))
    # Truncation on both sides and full-length inputs are part of what must agree.
    assert any(e.truncated for e in encoded) and not all(e.truncated for e in encoded)
    assert max(e.num_tokens for e in encoded) == card.input.max_length
    return encoded


def torch_scores(checkpoint: Checkpoint, encoded: Sequence[EncodedPair]) -> np.ndarray:
    from models.inference import score_encoded
    from models.loading import load_model

    model = load_model(checkpoint)
    return score_encoded(model, encoded, pad_id=model.config.pad_token_id, batch_size=5, progress=False)


def assert_parity(got: Sequence[float], want: np.ndarray, *, label: str) -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape
    assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
    # A constant (or input-independent) output on either side would make the comparison vacuous.
    assert np.ptp(want) > 1e-3 and len(np.unique(np.round(want, 6))) > len(want) // 2, want
    diff = float(np.max(np.abs(got - want)))
    print(
        f"\n{label}: max |vllm - torch| = {diff:.2e} over {len(want)} pairs (score range {np.ptp(want):.3f})"
    )
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def backend_scores(loop: LoopThread, checkpoint: Checkpoint) -> tuple[list[EncodedPair], list[float]]:
    """Start the service's vLLM backend on `checkpoint`, score the mixed batch encoded by the service's
    encoder for it, stop."""
    from service.backends import load_backend
    from service.encoding import load_encoder

    settings = make_settings(backend="vllm", backend_options={"kv_cache_memory_bytes": KVCACHE_BYTES})
    backend = loop.run(load_backend(checkpoint, settings), timeout=600)
    try:
        assert backend.limits.max_model_len == checkpoint.card.input.max_length
        encoded = load_encoder(checkpoint).encode_batch(mixed_pairs(tuple(checkpoint.card.tasks)))
        assert [e.input_ids for e in encoded] == [e.input_ids for e in encode_mixed(checkpoint)]
        return encoded, loop.run(backend.score(encoded))
    finally:
        loop.run(backend.close(), timeout=120)


TINY = dict(max_length=48, learning_rate=3e-3, max_steps=6, batch_size=8, lora={"r": 8, "alpha": 16})


@pytest.mark.slow
def test_trained_tiny_qwen3_joint_offline_vllm_equals_torch(tiny_base, tmp_path) -> None:
    from training.predict_vllm import score_with_vllm

    checkpoint = train_and_merge(
        tmp_path, base=tiny_base("qwen3"), name="qwen3-joint-trained", tasks=(Task.QC, Task.QI), **TINY
    )
    assert checkpoint.card.num_labels == 2 and checkpoint.card.is_joint
    encoded = encode_mixed(checkpoint)
    got = score_with_vllm(
        checkpoint, encoded, progress=False, engine_options={"kv_cache_memory_bytes": KVCACHE_BYTES}
    )
    assert_parity(got, torch_scores(checkpoint, encoded), label="tiny qwen3 (offline LLM)")


@pytest.mark.slow
def test_trained_tiny_gemma3_service_backend_equals_torch(tmp_path, loop) -> None:
    import tiny

    # The shared tiny bases carry a two-label head; this one is built with the one-label head it trains.
    base = tiny.tiny_gemma3(tmp_path / "base", num_labels=1)
    checkpoint = train_and_merge(
        tmp_path, base=base, name="gemma3-qc-trained", tasks=(Task.QC,), num_labels=1, **TINY
    )
    assert checkpoint.card.architecture == "Gemma3TextForSequenceClassification"
    encoded, got = backend_scores(loop, checkpoint)
    assert_parity(got, torch_scores(checkpoint, encoded), label="tiny gemma3 (service backend)")


@pytest.mark.slow
def test_trained_gemma_270m_service_backend_equals_torch(gemma_270m_store, tmp_path, loop) -> None:
    checkpoint = train_and_merge(
        tmp_path,
        base=gemma_270m_store / "gemma-3-270m",
        name="gemma270m-qc-trained",
        tasks=(Task.QC,),
        max_length=64,
        learning_rate=2e-4,
        max_steps=2,  # ~30 s a step on 2 busy cores; enough to move the LoRA weights and the head off init
        batch_size=2,
        model_dtype="float32",
        save_dtype="float32",
        lora={"r": 8, "alpha": 16},
    )
    assert checkpoint.card.architecture == "Gemma3TextForSequenceClassification"
    encoded, got = backend_scores(loop, checkpoint)
    assert_parity(got, torch_scores(checkpoint, encoded), label="gemma-3-270m (service backend)")
