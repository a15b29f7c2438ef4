"""The paper's base as users download it: Gemma-3-4B/12B/27B are multimodal checkpoints on the Hub. A tiny
random one, laid out the same way, goes the whole way: `python -m training bases extract-text` -> LoRA
fine-tune with the paper's two-label head on the multilingual sample data (with translations) -> merge
and publish -> `python -m training predict`; the service's torch backend and its vLLM backend then score
the same rows, and both must equal predict's scores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tiny
from service_helpers import make_settings
from vllm_helpers import KVCACHE_BYTES, LoopThread

from models import Checkpoint, ModelStore, Task, open_checkpoint

pytest.importorskip("vllm")
pytestmark = [pytest.mark.slow, pytest.mark.vllm]

TOLERANCE = 1e-3  # vLLM against predict (fp32 both); the torch backend is the same forward pass
SAMPLE = Path(__file__).resolve().parents[2] / "training" / "sample_data" / "qc_sample.jsonl"
TRAIN_ROWS, SCORE_ROWS = 96, 32


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def _train_and_publish(base: Path, root: Path) -> Checkpoint:
    from training.config import TrainConfig
    from training.data import load_examples
    from training.finetune import finetune
    from training.merge import merge_to_checkpoint

    examples, _ = load_examples(SAMPLE, task=Task.QC)
    config = TrainConfig(
        base_model=str(base),
        tasks=[Task.QC],
        input={"max_length": 48, "uses_translation": True},
        learning_rate=3e-3,
        max_steps=6,
        batch_size=8,
        lora={"r": 8, "alpha": 16},
    )
    result = finetune(train=examples[:TRAIN_ROWS], eval=None, config=config, output_dir=root / "run")
    path = merge_to_checkpoint(
        model_dir=result.model_dir,
        config=config,
        name="gemma3-mm-qc",
        store=ModelStore(root / "models"),
        thresholds={Task.QC: 0.5},
        check_examples=examples[TRAIN_ROWS : TRAIN_ROWS + 8],
    )
    return open_checkpoint(path)


def _backend_scores(loop: LoopThread, checkpoint: Checkpoint, pairs, **settings) -> np.ndarray:
    from service.backends import load_backend
    from service.encoding import load_encoder

    backend = loop.run(load_backend(checkpoint, make_settings(**settings)), timeout=600)
    try:
        encoded = load_encoder(checkpoint).encode_batch(pairs)
        return np.asarray(loop.run(backend.score(encoded)), dtype=np.float64)
    finally:
        loop.run(backend.close(), timeout=120)


def test_multimodal_download_to_both_serving_backends(tmp_path: Path, loop: LoopThread) -> None:
    from training.cli import main
    from training.evaluate import read_predictions
    from training.submission import load_rows

    src = tiny.tiny_gemma3_multimodal(tmp_path / "gemma-3-mm")
    base = tmp_path / "gemma-3-text"
    assert main(["bases", "extract-text", "--src", str(src), "--dest", str(base)]) == 0

    checkpoint = _train_and_publish(base, tmp_path)
    assert checkpoint.card.architecture == "Gemma3TextForSequenceClassification"
    assert checkpoint.card.num_labels == 2 and checkpoint.card.input.uses_translation
    merged = json.loads((checkpoint.path / "config.json").read_text())
    assert merged["rope_parameters"]["full_attention"]["rope_type"] == "linear"  # kept through merge

    rows = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = tmp_path / "score.jsonl"
    data.write_text("\n".join(rows[-SCORE_ROWS:]) + "\n", encoding="utf-8")  # rows never trained on
    scores_out = tmp_path / "scores.jsonl"
    argv = ["predict", "--checkpoint", str(checkpoint.path), "--data", str(data)]
    assert main([*argv, "--out", str(tmp_path / "submission.jsonl"), "--scores-out", str(scores_out)]) == 0
    offline = np.array([p.score for p in read_predictions(scores_out)])
    assert len(offline) == SCORE_ROWS and np.ptp(offline) > 1e-3  # input-dependent, so the check bites

    pairs = [r.example.pair() for r in load_rows(data).rows]
    assert all(p.query_en for p in pairs)
    served_torch = _backend_scores(loop, checkpoint, pairs, backend="torch")
    served_vllm = _backend_scores(
        loop, checkpoint, pairs, backend="vllm", backend_options={"kv_cache_memory_bytes": KVCACHE_BYTES}
    )
    print(
        f"\nmultimodal gemma3 -> text: max |torch - predict| = {np.abs(served_torch - offline).max():.2e}, "
        f"max |vllm - predict| = {np.abs(served_vllm - offline).max():.2e} over {SCORE_ROWS} pairs "
        f"(score range {np.ptp(offline):.3f})"
    )
    np.testing.assert_allclose(served_torch, offline, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(served_vllm, offline, atol=TOLERANCE, rtol=0)
