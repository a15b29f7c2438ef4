"""`bases extract-text`: a tiny random multimodal Gemma 3 (laid out like the Hub's 4B/12B/27B) becomes a
text-only `Gemma3ForCausalLM` checkpoint whose logits equal the multimodal model's on text, from either
weight layout and the Hub's config format; anything else is refused with nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tiny

from training.bases.extract import INDEX_NAME, ExtractError, extract_text, parse_size

TEXTS = [
    "ドラクエ バッグ luggage & bags women's handbags waist packs backpacks wallets home garden kitchen",
    "bolso de mujer",
    "여성 가방 운동화 휴대폰 케이스 이어폰 지갑 원피스 sports outdoors running shoes yoga mats",
]


@pytest.fixture(scope="module")
def multimodal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.tiny_gemma3_multimodal(tmp_path_factory.mktemp("mm") / "gemma3-mm")


@pytest.fixture(scope="module")
def extracted(multimodal: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A shard limit below the model's 0.2 MB, so the sharded path (and its index) is the one tested.
    return extract_text(multimodal, tmp_path_factory.mktemp("text") / "gemma3-text", max_shard_bytes=60_000)


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for file in folder.glob("*.safetensors"):
        out.update(load_file(str(file)))
    return out


def _no_leftovers(parent: Path) -> None:
    assert not [p.name for p in parent.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_extracted_model_equals_the_multimodal_language_model(multimodal: Path, extracted: Path) -> None:
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Gemma3ForConditionalGeneration,
    )

    config = json.loads((extracted / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and config["architectures"] == ["Gemma3ForCausalLM"]
    assert config["layer_types"] == ["sliding_attention", "full_attention"]
    assert config["rope_parameters"]["full_attention"] == {
        "rope_type": "linear",
        "factor": 8.0,
        "rope_theta": 1_000_000.0,
    }
    index = json.loads((extracted / INDEX_NAME).read_text())
    shards = sorted(p.name for p in extracted.glob("*.safetensors"))
    assert len(shards) > 1 and set(index["weight_map"].values()) == set(shards)
    # A shard stays under the limit unless it is one tensor bigger than the limit (the embedding here).
    by_shard = {s: [k for k, v in index["weight_map"].items() if v == s] for s in shards}
    assert all((extracted / s).stat().st_size < 60_000 + 4096 or len(by_shard[s]) == 1 for s in shards)
    assert by_shard[index["weight_map"]["model.embed_tokens.weight"]] == ["model.embed_tokens.weight"]
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (extracted / name).read_bytes() == (multimodal / name).read_bytes()
    provenance = json.loads((extracted / "provenance.json").read_text())
    assert provenance["dropped_tensors"] == {"multi_modal_projector": 2, "vision_tower": 32}

    # Every language-model tensor is copied bit for bit; nothing of the vision side comes along.
    source = _tensors(multimodal)
    text = _tensors(extracted)
    assert set(text) == {
        "model." + k.removeprefix("language_model.model.") for k in source if "language_" in k
    }
    for name, tensor in text.items():
        assert torch.equal(tensor, source["language_model." + name])

    tokenizer = AutoTokenizer.from_pretrained(extracted)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert batch["input_ids"].shape[1] > 16  # longer than the sliding window: both attention kinds act
    mm = Gemma3ForConditionalGeneration.from_pretrained(multimodal, dtype=torch.float32).eval()
    lm = AutoModelForCausalLM.from_pretrained(extracted, dtype=torch.float32).eval()
    assert type(lm).__name__ == "Gemma3ForCausalLM"
    with torch.inference_mode():
        want, got = mm(**batch).logits, lm(**batch).logits
    real = batch["attention_mask"].bool()
    assert want[real].std() > 0.1  # not a degenerate model
    assert (got[real] - want[real]).abs().max().item() <= 1e-5

    classifier = AutoModelForSequenceClassification.from_pretrained(extracted, num_labels=2)
    assert type(classifier).__name__ == "Gemma3TextForSequenceClassification"


def test_the_in_memory_layout_and_a_stored_head_give_the_same_checkpoint(
    multimodal: Path, extracted: Path, tmp_path: Path
) -> None:
    """Checkpoints saved by transformers >= 4.52 in its own names (`model.language_model.*`,
    `model.vision_tower.*`), sharded, with the tied head stored too, convert to the same tensors."""
    import torch
    from safetensors.torch import save_file

    src = tmp_path / "renamed"
    shutil.copytree(multimodal, src)
    (src / "model.safetensors").unlink()
    renamed = {
        k.replace("language_model.model.", "model.language_model.", 1)
        .replace("vision_tower.", "model.vision_tower.", 1)
        .replace("multi_modal_projector.", "model.multi_modal_projector.", 1): v
        for k, v in _tensors(multimodal).items()
    }
    renamed["lm_head.weight"] = renamed["model.language_model.embed_tokens.weight"].clone()
    names = sorted(renamed)
    halves = {"a.safetensors": names[: len(names) // 2], "b.safetensors": names[len(names) // 2 :]}
    for file, keys in halves.items():
        save_file({k: renamed[k] for k in keys}, str(src / file), metadata={"format": "pt"})
    weight_map = {k: file for file, keys in halves.items() for k in keys}
    (src / INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))

    out = extract_text(src, tmp_path / "text")
    assert not (out / INDEX_NAME).exists() and (out / "model.safetensors").is_file()  # fits one shard
    got, want = _tensors(out), _tensors(extracted)
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)


def test_the_hub_config_format_is_read(multimodal: Path, tmp_path: Path) -> None:
    """The Hub's config.json (written by transformers 4.50): a partial text_config with `rope_scaling`,
    `rope_local_base_freq`, `sliding_window_pattern`, and the dtype only at the top."""
    src = tmp_path / "hub"
    shutil.copytree(multimodal, src)
    config = json.loads((src / "config.json").read_text())
    text = config["text_config"]
    config["text_config"] = {
        **{k: text[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads", "head_dim")},
        **{k: text[k] for k in ("num_hidden_layers", "num_key_value_heads", "vocab_size", "sliding_window")},
        "model_type": "gemma3_text",
        "query_pre_attn_scalar": 64,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "sliding_window_pattern": 2,
    }
    config.pop("dtype", None)
    config["torch_dtype"] = "bfloat16"
    (src / "config.json").write_text(json.dumps(config))

    out = json.loads((extract_text(src, tmp_path / "text") / "config.json").read_text())
    assert out["dtype"] == "bfloat16" and out["layer_types"] == ["sliding_attention", "full_attention"]
    assert out["rope_parameters"] == {
        "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
    }


def test_what_is_not_a_multimodal_gemma3_is_refused(multimodal: Path, tiny_base, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "text"
    with pytest.raises(ExtractError, match="already a text-only Gemma 3"):
        extract_text(tiny_base("gemma3"), dest)
    with pytest.raises(ExtractError, match="model_type 'bert'"):
        extract_text(tiny_base("bert"), dest)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExtractError, match=r"no config\.json"):
        extract_text(tmp_path / "empty", dest)

    pickled = tmp_path / "pickled"
    shutil.copytree(multimodal, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ExtractError, match=r"no safetensors weights \(found pytorch_model\.bin"):
        extract_text(pickled, dest)

    import torch
    from safetensors.torch import save_file

    odd = tmp_path / "odd"
    shutil.copytree(multimodal, odd)
    save_file({"audio_tower.proj.weight": torch.zeros(2)}, str(odd / "extra.safetensors"))
    with pytest.raises(ExtractError, match=r"'audio_tower\.proj\.weight' is neither"):
        extract_text(odd, dest)

    untokenized = tmp_path / "untokenized"
    shutil.copytree(multimodal, untokenized)
    (untokenized / "tokenizer.json").unlink()
    with pytest.raises(ExtractError, match="no tokenizer"):
        extract_text(untokenized, dest)
    assert not dest.exists()
    _no_leftovers(dest.parent)

    with pytest.raises(ExtractError, match="must lie outside"):
        extract_text(multimodal, multimodal / "text")


def test_an_existing_destination_is_replaced_only_when_forced(multimodal: Path, tmp_path: Path) -> None:
    dest = tmp_path / "text"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ExtractError, match="exists; pass --force"):
        extract_text(multimodal, dest)
    assert (dest / "keep.txt").read_text() == "mine"
    extract_text(multimodal, dest, force=True)
    assert not (dest / "keep.txt").exists() and (dest / "model.safetensors").is_file()
    _no_leftovers(tmp_path)


def test_cli(multimodal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli import main

    dest = tmp_path / "text"
    argv = [
        "bases",
        "extract-text",
        "--src",
        str(multimodal),
        "--dest",
        str(dest),
        "--max-shard-size",
        "100KB",
    ]
    assert main(argv) == 0
    assert f"text-only checkpoint: {dest}" in capsys.readouterr().out
    assert len(list(dest.glob("*.safetensors"))) > 1
    assert main(argv) == 2  # exists, no --force: the user's error, not a traceback
    assert (
        main(["bases", "extract-text", "--src", str(tmp_path / "absent"), "--dest", str(tmp_path / "x")]) == 2
    )
    assert [parse_size(s) for s in ("5GB", "500 MB", "2GiB", "1.5kb", "123")] == [
        5 * 10**9,
        500 * 10**6,
        2 * 2**30,
        1500,
        123,
    ]
    with pytest.raises(ExtractError, match="not a size"):
        parse_size("5 parsecs")
