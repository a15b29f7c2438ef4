"""bench.compare_heads: two head runs' saved out-of-fold scores compared on the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.compare_heads import compare, main, paired_auc


def _write(config, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    return path


def test_two_runs_compared_on_the_same_rows(biencoder_run, tmp_path: Path) -> None:
    from training.head import embeddings_folder, run_head

    config, record = biencoder_run
    # Its own work dir (the session run's stays as the head tests expect it), the session's embeddings.
    other = config.model_copy(
        update={
            "name": "tiny-bi-qc-seed1",
            "head": config.head.model_copy(update={"seed": 1}),
            "work_dir": tmp_path / "work",
            "embeddings_cache": embeddings_folder(config),
            "models_dir": tmp_path / "m",
        }
    )
    other_record = run_head(other)

    same = compare(config, config, groups={"es+fr": ["es", "fr"]}, rounds=50)
    assert same["rows"]["all"]["delta"] == 0 and same["rows"]["all"]["ci95"] == [0, 0]
    one_class = paired_auc(np.ones(5), np.arange(5.0), np.arange(5.0), rounds=10, seed=0)
    assert one_class == {"n": 5, "auc_a": None, "auc_b": None, "delta": None, "ci95": None}

    out = tmp_path / "cmp.json"
    a, b = _write(config, tmp_path / "a.yaml"), _write(other, tmp_path / "b.yaml")
    assert main(["--a", str(a), "--b", str(b), "--group", "es,fr", "--rounds", "50", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert rows["all"]["auc_a"] == pytest.approx(record["metrics"]["roc_auc"], abs=1e-4)
    assert rows["all"]["auc_b"] == pytest.approx(other_record["metrics"]["roc_auc"], abs=1e-4)
    assert rows["all"]["n"] == record["n"] and rows["es,fr"]["n"] == rows["es"]["n"] + rows["fr"]["n"]
    low, high = rows["all"]["ci95"]
    assert low <= high and result["command"].startswith("python -m bench.compare_heads --a")


def test_a_run_not_made_is_named(biencoder_run) -> None:
    config, _ = biencoder_run
    never = config.model_copy(update={"name": "never", "head": config.head.model_copy(update={"epochs": 7})})
    with pytest.raises(FileNotFoundError, match="run `python -m training head` on never first"):
        compare(config, never, groups={}, rounds=10)
