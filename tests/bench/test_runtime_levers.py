"""`bench.runtime_levers` end to end on the tiny bi-encoder checkpoint the recipe publishes
(`biencoder_run`), with the project's QC sample data as traffic."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from bench import runtime_levers
from bench.runtime_levers import build_traffic, roc_auc

SAMPLE = Path(__file__).parents[2] / "training" / "sample_data" / "qc_sample.jsonl"
TIMED = ("baseline", "threads_1", "threads_2", "bf16", "bf16_autocast", "int8", "baseline_again")


def test_every_lever_is_timed_or_says_why(
    biencoder_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, record = biencoder_run
    out = tmp_path / "results" / "runtime_levers.json"
    argv = [
        *("--model", str(record["checkpoint"]), "--data", str(SAMPLE), "--out", str(out)),
        *("--queries", "8", "--k", "4", "--warmup", "2"),
    ]
    assert runtime_levers.main(argv) == 0
    result = json.loads(out.read_text())  # valid JSON, written whole
    levers = {e["lever"]: e for e in result["levers"]}
    assert set(levers) == {*TIMED, "onnxruntime", "torch_compile"}
    for entry in levers.values():
        assert entry.get("pairs_per_s", 0) > 0 or entry.get("error") or entry.get("skipped"), entry

    # The torch levers run on any x86 CPU build; each scored every pair of the same traffic.
    for name in TIMED:
        entry = levers[name]
        assert entry["pairs"] == result["pairs"] == 32 and entry["speedup"] > 0, entry
        assert entry["max_abs_delta"] >= 0 and entry["warm_targets_s"] >= 0
        # Over the tolerance the quality effect is stated: ROC-AUC with the lever and without.
        if entry["max_abs_delta"] > result["tolerance"]:
            assert set(entry["roc_auc"]) == {"with", "without"}
        else:
            assert entry["roc_auc"] is None
    baseline = levers["baseline"]
    assert baseline["max_abs_delta"] == 0 and baseline["speedup"] == 1
    assert levers["baseline_again"]["max_abs_delta"] < 1e-6  # the same model and cache: the same scores
    assert levers["threads_1"]["threads"] == 1 and levers["threads_2"]["threads"] == 2
    assert "--compile" in levers["torch_compile"]["skipped"]  # opt-in: the backend runs a bi-encoder eager

    onnx = levers["onnxruntime"]
    if importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime"):
        assert onnx["max_abs_delta"] < 1e-4, onnx  # the same fp32 graph, another runtime
    else:  # the exporter needs `onnx`: the error is recorded and the bench goes on
        assert "onnx" in onnx["error"].lower()

    assert result["command"].startswith("python -m bench.runtime_levers --model")
    assert result["queries"] == 8 and result["k"] == 4 and result["labelled_pairs"] >= 8
    assert result["torch"] and result["cores"] >= 1 and result["default_threads"] >= 1
    assert {"avx512_vnni", "amx_int8", "amx_bf16"} <= set(result["cpu"])
    printed = capsys.readouterr().out
    assert all(f"| {name} |" in printed for name in levers)


def test_traffic_is_each_query_with_its_own_paths_first() -> None:
    rows = [("q1", "a", 1), ("q1", "b", 0), ("q2", "c", 1), ("q3", "d", 0), ("q1", "a", 0)]
    traffic = build_traffic(rows, queries=3, k=3, seed=0)
    by_query = {r.query: r for r in traffic.requests}
    assert set(by_query) == {"q1", "q2", "q3"} and all(r.k == 3 for r in traffic.requests)
    assert by_query["q1"].categories[:2] == ("a", "b")  # its labelled rows, the first label of a repeat
    labels = dict(
        zip([(r.query, c) for r in traffic.requests for c in r.categories], traffic.labels, strict=True)
    )
    assert labels["q1", "a"] == 1 and labels["q1", "b"] == 0 and labels["q2", "c"] == 1
    assert labels.get(("q2", "a"), -1) == -1  # a filler path has no label
    again = build_traffic(rows, queries=3, k=3, seed=0)
    assert again.requests == traffic.requests and np.array_equal(again.labels, traffic.labels)


def test_roc_auc_matches_sklearn_with_ties_and_ignores_fillers() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 2, size=200)
    scores = rng.integers(0, 10, size=200) / 10  # many ties
    keep = labels >= 0
    assert roc_auc(labels, scores) == pytest.approx(metrics.roc_auc_score(labels[keep], scores[keep]))
    assert roc_auc(np.array([1, 1, -1]), np.array([0.1, 0.2, 0.3])) is None  # one class: no AUC


def test_an_unknown_lever_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--model", str(tmp_path), "--levers", "baseline,fp8"]
    assert runtime_levers.main(argv) == 2
    assert "fp8" in capsys.readouterr().err
