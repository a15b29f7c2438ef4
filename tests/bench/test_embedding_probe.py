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


def test_the_quality_report_lists_every_baseline_found_per_task() -> None:
    from bench.quality_report import baselines_table

    def result(auc: float, languages: dict[str, float], **extra) -> dict:
        detail = {lang: {"roc_auc": a} for lang, a in languages.items()}
        metrics = {"n": 100, "f1": 0.82, "baseline_all_positive_f1": 0.81, "roc_auc": auc}
        return {"metrics": {**metrics, "by_language_detail": detail}, **extra}

    folds = {"0": {"roc_auc": 0.70}, "1": {"roc_auc": 0.74}}
    qc = {
        "tfidf_baseline": result(0.65, {"es": 0.6, "ja": 0.7}),
        "probe_embeddinggemma_qc": result(
            0.72, {"es": 0.71}, per_fold=folds, encode_seconds={"cpu": 120.0, "texts": 500}
        ),
    }
    table = baselines_table(qc, "qc").splitlines()
    assert table[0].endswith("| es | ja |") and len(table) == 6  # header, rule, two rows, blank, note
    assert table[2] == "| char TF-IDF + LR | 100 | 0.8200 | 0.8100 | 0.6500 | – | – | 0.600 | 0.700 |"
    assert "0.700–0.740 | 2.0 min (500 texts) | 0.710 | – |" in table[3]
    assert "USE" not in "\n".join(table)  # only what was run is listed
    cached = {"probe_use_qi": result(0.67, {"en": 0.67}, encode_seconds={"cpu": 1.0, "texts": 0})}
    assert "| cached |" in baselines_table(cached, "qi") and "| en |" not in baselines_table(cached, "qi")
    assert baselines_table({}, "qi") == "(no qi baseline results yet)"
