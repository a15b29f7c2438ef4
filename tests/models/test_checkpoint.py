"""The card and checkpoint validation: every failure names what to fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models import (
    CARD_FILENAME,
    CheckpointError,
    ModelCard,
    ModelStore,
    Task,
    open_checkpoint,
    weights_sha256,
)
from models.store import atomic_directory


@pytest.fixture
def ckpt(qc_checkpoint: Path, tmp_path: Path) -> Path:
    """A private copy of the session checkpoint that a test may damage."""
    return Path(shutil.copytree(qc_checkpoint, tmp_path / "ckpt"))


def _edit_card(path: Path, **changes) -> None:
    card = json.loads((path / CARD_FILENAME).read_text())
    card.update(changes)
    (path / CARD_FILENAME).write_text(json.dumps(card))


def test_valid_checkpoint_opens(ckpt: Path) -> None:
    checkpoint = open_checkpoint(ckpt, task=Task.QC)
    assert checkpoint.card.tasks == [Task.QC]
    assert checkpoint.card.weights_sha256 == weights_sha256(ckpt)
    assert checkpoint.card.threshold(Task.QC) == 0.5


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        open_checkpoint(tmp_path / "nope")


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", CARD_FILENAME])
def test_missing_file(ckpt: Path, name: str) -> None:
    (ckpt / name).unlink()
    with pytest.raises(CheckpointError, match=f"missing {name}"):
        open_checkpoint(ckpt)


def test_unknown_format_version(ckpt: Path) -> None:
    _edit_card(ckpt, format_version=99)
    with pytest.raises(CheckpointError, match="unknown format_version 99"):
        open_checkpoint(ckpt)


def test_pickle_weights_refused(ckpt: Path) -> None:
    (ckpt / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match=r"not safetensors \(pytorch_model.bin\)"):
        open_checkpoint(ckpt)


def test_no_safetensors(ckpt: Path) -> None:
    for file in ckpt.glob("*.safetensors"):
        file.unlink()
    with pytest.raises(CheckpointError, match=r"no \*\.safetensors"):
        open_checkpoint(ckpt)


def test_tampered_weights(ckpt: Path) -> None:
    weights = next(ckpt.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the card"):
        open_checkpoint(ckpt)
    open_checkpoint(ckpt, verify_weights=False)  # an explicit opt-out still reads the card


def test_task_not_served(ckpt: Path) -> None:
    with pytest.raises(CheckpointError, match="serves \\[qc\\], not task 'qi'"):
        open_checkpoint(ckpt, task=Task.QI)


def test_card_json_syntax_error(ckpt: Path) -> None:
    (ckpt / CARD_FILENAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        open_checkpoint(ckpt)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thresholds": {"qc": 1.5}}, "must be in \\[0, 1\\]"),
        ({"thresholds": {"qi": 0.5}}, "does not serve"),
        ({"tasks": []}, "tasks"),
        ({"tasks": ["qc", "qi"]}, "task_prefix"),
        ({"tasks": ["xx"]}, "tasks"),
        ({"surprise": 1}, "surprise"),
        ({"name": "../escape"}, "name"),
    ],
)
def test_invalid_card_fields(ckpt: Path, changes: dict, message: str) -> None:
    _edit_card(ckpt, **changes)
    with pytest.raises(CheckpointError, match=message):
        open_checkpoint(ckpt)


def test_joint_card_round_trip(joint_checkpoint: Path) -> None:
    card = open_checkpoint(joint_checkpoint).card
    assert card.is_joint and set(card.tasks) == {Task.QC, Task.QI}
    assert ModelCard.model_validate_json(card.model_dump_json()) == card


def test_threshold_protocol_is_optional_and_kept(ckpt: Path) -> None:
    card = json.loads((ckpt / CARD_FILENAME).read_text())
    card.pop("threshold_protocol", None)  # a card written before the field existed
    (ckpt / CARD_FILENAME).write_text(json.dumps(card))
    old = open_checkpoint(ckpt).card
    assert old.threshold_protocol is None and "threshold_protocol" not in json.loads(old.model_dump_json())
    stated = old.model_copy(update={"threshold_protocol": "F1-max on pooled out-of-fold scores"})
    assert ModelCard.model_validate_json(stated.model_dump_json()) == stated


def test_store_lists_and_resolves(qc_checkpoint: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    assert store.list() == []
    shutil.copytree(qc_checkpoint, store.root / "good")
    shutil.copytree(qc_checkpoint, store.root / "bad")
    _edit_card(store.root / "bad", format_version=2)
    entries = {e.name: e for e in store.list()}
    assert entries["good"].checkpoint is not None and entries["good"].error is None
    assert entries["bad"].checkpoint is None and "format_version" in entries["bad"].error
    assert store.resolve("good") == store.root / "good"
    assert store.resolve(qc_checkpoint) == qc_checkpoint
    with pytest.raises(CheckpointError, match="known: bad, good"):
        store.resolve("missing")


def test_atomic_directory_replaces_or_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_directory(dest) as tmp:
        (tmp / "a.txt").write_text("one")
    assert (dest / "a.txt").read_text() == "one"
    with pytest.raises(RuntimeError), atomic_directory(dest) as tmp:
        (tmp / "a.txt").write_text("half-written")
        raise RuntimeError("crash mid-write")
    assert (dest / "a.txt").read_text() == "one"  # old content intact
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp debris
    with atomic_directory(dest) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in dest.iterdir()) == ["b.txt"]
