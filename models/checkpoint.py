"""Open and validate a checkpoint directory before anything loads its weights."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.card import CARD_FILENAME, InputSpec, ModelCard
from models.tasks import Task

# Formats that can execute code on load (pickle) or that we do not verify; refused outright.
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack", ".gguf")
REQUIRED_FILES = ("config.json", "tokenizer.json", CARD_FILENAME)


class CheckpointError(ValueError):
    """A checkpoint that cannot be served or trained from; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    path: Path
    card: ModelCard

    @property
    def name(self) -> str:
        return self.card.name

    def serves(self, task: Task) -> bool:
        return task in self.card.tasks


def weight_files(path: Path) -> list[Path]:
    """Every `*.safetensors` of a checkpoint: the model's at the root, then those in sub-folders (a
    bi-encoder's Dense layers and head), by relative path."""
    path = Path(path)
    root = sorted(p for p in path.glob("*.safetensors") if p.is_file())
    nested = sorted(
        (p for p in path.glob("*/**/*.safetensors") if p.is_file()), key=lambda p: p.relative_to(path)
    )
    return root + nested


def weights_sha256(path: Path) -> str:
    """sha256 over the bytes of every `*.safetensors` file of the checkpoint (`weight_files` order)."""
    digest = hashlib.sha256()
    for file in weight_files(path):
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _read_card(path: Path) -> ModelCard:
    try:
        return ModelCard.read(path / CARD_FILENAME)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'card'}: {err['msg']}" for err in exc.errors()
        )
        raise CheckpointError(f"invalid model card {path / CARD_FILENAME}: {problems}") from None
    except ValueError as exc:  # JSON syntax
        raise CheckpointError(f"model card {path / CARD_FILENAME} is not valid JSON: {exc}") from None


def open_checkpoint(path: str | Path, *, task: Task | None = None, verify_weights: bool = True) -> Checkpoint:
    """Validate `path` as a relevance checkpoint; raise `CheckpointError` naming the first problem."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        hint = (
            " (checkpoints are written by `python -m training merge` or `run`)"
            if CARD_FILENAME in missing
            else ""
        )
        raise CheckpointError(f"checkpoint {path} is missing {', '.join(missing)}{hint}")
    unsafe = sorted(p.name for p in path.iterdir() if p.suffix in UNSAFE_WEIGHT_SUFFIXES)
    if unsafe:
        raise CheckpointError(
            f"checkpoint {path} holds weights that are not safetensors ({', '.join(unsafe)}); "
            "only *.safetensors is loaded — re-save the model with safe_serialization"
        )
    if not weight_files(path):
        raise CheckpointError(f"checkpoint {path} has no *.safetensors weights")
    card = _read_card(path)
    if verify_weights:
        actual = weights_sha256(path)
        if actual != card.weights_sha256:
            raise CheckpointError(
                f"checkpoint {path}: weights sha256 {actual[:12]}… does not match the card's "
                f"{card.weights_sha256[:12]}… (weights changed or were corrupted after the card was written)"
            )
    if task is not None and task not in card.tasks:
        served = ", ".join(t.value for t in card.tasks)
        raise CheckpointError(f"checkpoint {card.name} serves [{served}], not task {task.value!r}")
    return Checkpoint(path=path, card=card)


def card_model_dir(
    path: Path,
    *,
    name: str,
    tasks: Sequence[Task],
    base_model: str,
    input_spec: InputSpec,
    **fields: Any,
) -> ModelCard:
    """Card a saved Hugging Face classifier folder so it can be served as is (no training record):
    architecture and label count come from its config.json, the weights hash from its files; `fields`
    are further card fields (thresholds, dtype, ...). For benchmarks and tests; training publishes
    through `training.merge`."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    card = ModelCard(
        name=name,
        tasks=list(tasks),
        base_model=base_model,
        architecture=config["architectures"][0],
        num_labels=len(config.get("id2label") or {}) or 2,
        input=input_spec,
        weights_sha256=weights_sha256(path),
        **fields,
    )
    card.write(path / CARD_FILENAME)
    return card
