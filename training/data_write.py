"""Examples written back in the competition's JSONL shape (translation caches, subsamples, fold files)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from models.io import atomic_write_text
from training.data import Example


def example_to_row(ex: Example) -> dict[str, Any]:
    """An example in the official JSONL shape."""
    row: dict[str, Any] = {
        "id": ex.id,
        "task": ex.task.value.upper(),
        "language": ex.language,
        "origin_query": ex.query,
        ex.task.spec.target_field: ex.target,
    }
    if ex.label is not None:
        row["label"] = ex.label
    if ex.query_en is not None:
        row["query_en"] = ex.query_en
    for key, value in ex.extra.items():
        row.setdefault(key, value)
    return row


def write_examples(path: str | Path, examples: Iterable[Example]) -> None:
    """Write examples as official-format JSONL (with `query_en` when present), atomically."""
    lines = [json.dumps(example_to_row(ex), ensure_ascii=False) + "\n" for ex in examples]
    atomic_write_text(path, "".join(lines))
