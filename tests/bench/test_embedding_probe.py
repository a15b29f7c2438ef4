"""The frozen-embedding probe: real multilingual USE on the project's sample data, the pipeline's folds,
results the docs can quote, and an encoding cache that lets an interrupted run resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import embedding_probe

SAMPLE = Path(__file__).resolve().parents[2] / "training" / "sample_data"


def test_pair_features_read_how_two_embeddings_relate() -> None:
    q = np.array([[3.0, 4.0], [1.0, 0.0]])
    t = np.array([[3.0, 4.0], [0.0, 2.0]])
    x = embedding_probe.pair_features(q, t)
    assert x.shape == (2, 5)
    np.testing.assert_allclose(x[:, -1], [1.0, 0.0], atol=1e-6)  # cosine, whatever the norms
    np.testing.assert_allclose(x[1, 2:4], [1.0, 1.0], atol=1e-6)  # |q - t| of the unit vectors


@pytest.mark.slow
@pytest.mark.parametrize("task", ["qc", "qi"])
def test_use_probe_on_the_sample_data_and_resume_from_cache(task: str, tmp_path: Path, monkeypatch) -> None:
    out, cache = tmp_path / "probe.json", tmp_path / "cache"
    argv = ["--encoder", "use", "--task", task, "--data", str(SAMPLE / f"{task}_sample.jsonl")]
    argv += ["--folds", "3", "--cache-dir", str(cache), "--out", str(out)]
    assert embedding_probe.main(argv) == 0
    first = json.loads(out.read_text())
    assert first["task"] == task and first["folds"] == 3 and set(first["per_fold"]) == {"0", "1", "2"}
    assert sum(f["n"] for f in first["per_fold"].values()) == first["n"]
    # USE knows these languages: matching pairs must rank above chance on held-out groups.
    assert first["metrics"]["roc_auc"] > 0.6
    assert 0.0 <= first["threshold_from_oof"] <= 1.0 and first["peak_rss_gib"] > 0

    def no_encoding(threads: int):
        def encode(texts, role):
            raise AssertionError(f"{len(texts)} {role} texts re-encoded; the cache should hold them")

        return encode

    monkeypatch.setitem(embedding_probe.ENCODERS, "use", no_encoding)
    assert embedding_probe.main(argv) == 0  # every text comes from the cache
    assert json.loads(out.read_text())["metrics"] == first["metrics"]
