"""The GPU path on CUDA against the CPU: the shared forward pass, a bf16 LoRA step then merge, the service on
`device=DEVICE` and the bi-encoder's embeddings. Tiny random models, offline. Skipped where CUDA is absent;
`bench/gpu_check.sh` runs them on a GPU machine (`pytest -m gpu tests/test_gpu.py`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

sys.path[:0] = [str(Path(__file__).parent / "service"), str(Path(__file__).parent / "training")]

import tiny  # noqa: E402
from service_helpers import OfflineScorer, make_settings, predicted_qc_scores, running  # noqa: E402
from toydata import toy_examples  # noqa: E402

from models import ModelStore, PairEncoder, PairInput, Task, open_checkpoint  # noqa: E402
from models.inference import score_encoded  # noqa: E402
from models.loading import load_model, load_tokenizer  # noqa: E402

# The device under test: "cuda" (or e.g. "cuda:1"); GPU_TEST_DEVICE=cpu dry-runs the tests' own logic on the
# CPU (it proves nothing about CUDA).
DEVICE = os.environ.get("GPU_TEST_DEVICE", "cuda")
ON_CUDA = DEVICE.startswith("cuda")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        ON_CUDA and not torch.cuda.is_available(),
        reason="needs CUDA (none here); bench/gpu_check.sh runs these on a GPU machine",
    ),
]

FP32_TOL = 1e-4  # CUDA kernels sum in another order than the CPU's: equal to fp32 rounding, not bit for bit
BF16_TOL = 2e-2  # bf16 weights and activations (8 mantissa bits) against the fp32 CPU scores

PAIRS = [
    PairInput(task=Task.QC, query="ドラクエ バッグ", target="luggage & bags,women's handbags,waist packs"),
    PairInput(task=Task.QC, query="zapatillas running", target="sports,running shoes", query_en="running"),
    PairInput(task=Task.QC, query="coque téléphone", target="mobile phones,cases covers"),
    PairInput(task=Task.QC, query="laptop keyboard", target="computer office,keyboard mouse monitor"),
    PairInput(task=Task.QC, query="여성 가방", target="luggage & bags,backpacks"),
    PairInput(task=Task.QC, query="a", target="b"),
] * 6  # 36 pairs: several length-sorted batches at batch_size 8, padding inside each


def _scores(model, encoded, pad_id: int) -> np.ndarray:
    return score_encoded(model, encoded, pad_id=pad_id, batch_size=8)


@pytest.mark.parametrize("arch", ["bert", "qwen3", "gemma3"])
def test_forward_on_cuda_equals_cpu(tmp_path: Path, arch: str) -> None:
    path = tiny.card_checkpoint(tmp_path / arch, arch=arch, name=f"tiny-{arch}")
    checkpoint = open_checkpoint(path)
    encoded = PairEncoder(load_tokenizer(checkpoint), checkpoint.card.input).encode_batch(PAIRS)
    cpu = load_model(checkpoint)
    pad_id = cpu.config.pad_token_id
    reference = _scores(cpu, encoded, pad_id)

    cuda = load_model(checkpoint, device=DEVICE)
    assert cuda.device.type == torch.device(DEVICE).type
    fp32 = _scores(cuda, encoded, pad_id)
    assert np.max(np.abs(fp32 - reference)) <= FP32_TOL, np.max(np.abs(fp32 - reference))

    bf16 = load_model(checkpoint, device=DEVICE, dtype="bfloat16")
    assert next(bf16.parameters()).dtype == torch.bfloat16
    half = _scores(bf16, encoded, pad_id)
    assert np.max(np.abs(half - reference)) <= BF16_TOL, np.max(np.abs(half - reference))
    assert np.all(np.isfinite(half)) and half.std() > 0  # not a constant (e.g. NaN-masked) output


@pytest.fixture(scope="module", params=["qwen3", "gemma3"])
def cuda_lora_run(request: pytest.FixtureRequest, tiny_base, tmp_path_factory: pytest.TempPathFactory):
    """A LoRA fine-tuning in bf16 mixed precision on CUDA through the project's entry point: (config,
    result, held-out examples)."""
    from training.config import TrainConfig
    from training.finetune import finetune

    cfg = TrainConfig(
        base_model=str(tiny_base(request.param)),
        max_length=48,
        learning_rate=3e-3,
        max_steps=6,
        batch_size=16,
        logging_steps=2,
        bf16=ON_CUDA,  # mixed precision; transformers refuses bf16 on a CPU without use_cpu (dry run)
        lora={"r": 8, "alpha": 16},
    )
    if ON_CUDA:
        torch.cuda.reset_peak_memory_stats()
    result = finetune(
        train=toy_examples(n=64), eval=None, config=cfg, output_dir=tmp_path_factory.mktemp("lora")
    )
    assert not ON_CUDA or torch.cuda.max_memory_allocated() > 0, "the Trainer left the model off the GPU"
    return cfg, result, toy_examples(n=24, seed=1, prefix="e")


@pytest.mark.parametrize("save_dtype", ["float32", "bfloat16"])
def test_bf16_lora_step_on_cuda_then_merge(cuda_lora_run, tmp_path: Path, save_dtype: str) -> None:
    from training.merge import TOLERANCE, load_trained, merge_to_checkpoint

    cfg, result, held = cuda_lora_run
    assert result.total_steps == 6
    assert all(np.isfinite(loss) for _, loss in result.loss_history) and result.loss_history
    cfg = cfg.model_copy(update={"save_dtype": save_dtype})
    # merge_to_checkpoint refuses to publish unless merged == adapter on the check pairs (on the CPU)
    path = merge_to_checkpoint(
        model_dir=result.model_dir,
        config=cfg,
        name=f"cuda-lora-{save_dtype}",
        store=ModelStore(tmp_path / "models"),
        check_examples=held[:8],
    )
    checkpoint = open_checkpoint(path)
    assert checkpoint.card.dtype == save_dtype

    # ... and on the GPU: the unmerged adapter model and the published checkpoint, both on CUDA.
    adapter, tokenizer, _ = load_trained(result.model_dir)
    encoded = PairEncoder(tokenizer, cfg.input).encode_batch([e.pair() for e in held])
    unmerged = _scores(adapter.to(DEVICE), encoded, tokenizer.pad_token_id)
    merged = _scores(load_model(checkpoint, device=DEVICE), encoded, tokenizer.pad_token_id)
    diff = float(np.max(np.abs(merged - unmerged)))
    assert diff <= TOLERANCE[save_dtype], diff


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def cuda_server(request: pytest.FixtureRequest, qc_checkpoint: Path) -> Iterator[tuple[str, str]]:
    settings = make_settings(model=str(qc_checkpoint), device=DEVICE, dtype=request.param, cache_size=0)
    from service.app import create_app

    with running(create_app(settings)) as url:
        yield url, request.param


def test_service_on_cuda_equals_cpu_offline(cuda_server: tuple[str, str], qc_checkpoint: Path) -> None:
    url, dtype = cuda_server
    pairs = [
        {"query": p.query, "category_path": p.target} | ({"query_en": p.query_en} if p.query_en else {})
        for p in PAIRS[:6]
    ]
    r = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": pairs}, timeout=60)
    assert r.status_code == 200, r.text
    served = np.array([res["score"] for res in r.json()["results"]])
    offline = np.array(OfflineScorer(qc_checkpoint)(Task.QC, pairs))  # fp32 on the CPU
    tolerance = FP32_TOL if dtype == "float32" else BF16_TOL
    assert np.max(np.abs(served - offline)) <= tolerance, np.max(np.abs(served - offline))
    assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200


@pytest.fixture(params=["base", "checkpoint"])
def sentence_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence-transformers folder a bi-encoder embeds with: the tiny random EmbeddingGemma-like base, and
    the bi-encoder checkpoint `training.head` publishes on it (`biencoder_run`; its CV needs scikit-learn)."""
    if request.param == "base":
        return tiny.tiny_sentence_encoder(tmp_path_factory.mktemp("sentence-base"))
    pytest.importorskip("sklearn", reason="the biencoder_run fixture's cross-validation needs scikit-learn")
    _, record = request.getfixturevalue("biencoder_run")
    return Path(record["checkpoint"])


def test_biencoder_embeddings_on_cuda_equal_cpu(sentence_folder: Path) -> None:
    from models.embedding import SentenceEncoder

    queries = ["ドライヤー", "peluche stitch", "zapatillas running mujer", "a"]
    targets = ["home appliances,personal care appliances,hair dryers", "toys & hobbies,stuffed animals"]
    cpu = SentenceEncoder.load(sentence_folder)
    cuda = SentenceEncoder.load(sentence_folder).to(DEVICE)
    assert cuda.model.device.type == torch.device(DEVICE).type
    for texts, prompt in ((queries, "query"), (targets, "document")):
        reference = cpu.encode(texts, prompt_name=prompt, batch_size=3)
        on_gpu = cuda.encode(texts, prompt_name=prompt, batch_size=3)
        assert on_gpu.shape == reference.shape
        assert float((on_gpu - reference).abs().max()) <= FP32_TOL
    half = SentenceEncoder.load(sentence_folder).to(DEVICE, torch.bfloat16)
    reference = cpu.encode(queries, prompt_name="query")
    cosine = torch.nn.functional.cosine_similarity(half.encode(queries, prompt_name="query"), reference)
    assert float(cosine.min()) >= 0.99, cosine


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_service_serves_a_biencoder_on_cuda(
    request: pytest.FixtureRequest, dtype: str, tmp_path: Path
) -> None:
    """The published model's kind on the GPU: its encoder on `DEVICE` in `dtype`, the head on the CPU; over
    HTTP the scores equal `training predict`'s fp32 CPU scores."""
    pytest.importorskip("sklearn", reason="the biencoder_run fixture's cross-validation needs scikit-learn")
    from service.app import create_app

    _, record = request.getfixturevalue("biencoder_run")
    checkpoint = Path(record["checkpoint"])
    pairs = [{"query": p.query, "category_path": p.target} for p in PAIRS[:6]]
    settings = make_settings(model=str(checkpoint), device=DEVICE, dtype=dtype, cache_size=0)
    app = create_app(settings)
    with running(app) as url:
        r = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": pairs}, timeout=60)
        assert r.status_code == 200, r.text
        (model,) = httpx.get(f"{url}/v1/models", timeout=10).json()["models"]
        served = app.state.services.manager.current.model_for(Task.QC).backend.model
        # The encoder ran where it was asked to (a silent CPU fallback would pass the tolerances).
        assert served.encoder.model.device.type == torch.device(DEVICE).type
        assert served.encoder.model.dtype == getattr(torch, dtype)
    assert model["card"]["kind"] == "bi-encoder"
    served = np.array([res["score"] for res in r.json()["results"]])
    offline = np.array(predicted_qc_scores(checkpoint, pairs, tmp_path))
    tolerance = FP32_TOL if dtype == "float32" else BF16_TOL
    assert np.max(np.abs(served - offline)) <= tolerance, np.max(np.abs(served - offline))
