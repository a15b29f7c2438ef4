"""Checks every built base passes: it loads as a sequence classifier and scores a pair with finite logits."""

from __future__ import annotations

import json
from pathlib import Path

from training.bases.install import BaseBuildError

ENGLISH_PAIRS = (
    ("leather handbag for women", "luggage & bags,women's handbags,shoulder bags"),
    ("usb c charger", "consumer electronics,chargers"),
)
# Pairs in a few scripts: the check must exercise the multilingual vocabularies, not only ASCII.
MULTILINGUAL_PAIRS = (
    ("ドラクエ バッグ", "luggage & bags,women's handbags,waist packs"),
    ("bolso de mano mujer", "luggage & bags,women's handbags"),
    ("กระเป๋าถือ", "luggage & bags"),
)


def verify_classifier(
    folder: Path,
    *,
    expect_architecture: str | None = None,
    pairs: tuple[tuple[str, str], ...] = MULTILINGUAL_PAIRS,
) -> None:
    """Raise `BaseBuildError` unless `folder` loads as a classifier that scores `pairs` without <unk>."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    config = json.loads((folder / "config.json").read_text())
    if "quantization_config" in config:
        raise BaseBuildError(f"{folder}/config.json still carries a quantization_config")
    if not any(folder.glob("*.safetensors")):
        raise BaseBuildError(f"{folder} has no safetensors weights")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token_id is None:
        raise BaseBuildError(f"{folder}: the tokenizer has no pad token")
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=1, dtype=torch.float32
    ).eval()
    if expect_architecture and type(model).__name__ != expect_architecture:
        raise BaseBuildError(f"{folder} loads as {type(model).__name__}, expected {expect_architecture}")
    model.config.pad_token_id = tokenizer.pad_token_id
    batch = tokenizer([q for q, _ in pairs], [t for _, t in pairs], padding=True, return_tensors="pt")
    if tokenizer.unk_token_id is not None and (batch["input_ids"] == tokenizer.unk_token_id).any():
        raise BaseBuildError(f"{folder}: the tokenizer maps sample text to <unk>")
    with torch.inference_mode():
        logits = model(**batch).logits
    if logits.shape != (len(pairs), 1) or not torch.isfinite(logits).all():
        raise BaseBuildError(f"{folder}: forward pass gave {logits} (shape {tuple(logits.shape)})")
