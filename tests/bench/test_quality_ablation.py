"""The quality ablation runs the pipeline's pieces end to end: tiny base, the project's sample data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import quality_ablation, quality_report

SAMPLE = Path(__file__).resolve().parents[2] / "training" / "sample_data"


@pytest.fixture(scope="module")
def ablation(tiny_base, tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("ablation") / "ablation.json"
    argv = [
        "--data", str(SAMPLE / "qc_sample.jsonl"),
        "--qi-data", str(SAMPLE / "qi_sample.jsonl"),
        "--folds", "3",
        "--only-folds", "1",
        "--base-model", str(tiny_base("bert")),
        "--variants", "base,epochs3,cross_task",
        "--threads", "2",
        "--out", str(out),
    ]  # fmt: skip
    assert quality_ablation.main(argv) == 0
    return out, argv


def test_variants_are_scored_on_the_held_out_fold_only(ablation):
    out, _ = ablation
    result = json.loads(out.read_text())
    assert result["held_out_folds"] == [1]
    assert 0 < result["held_out_rows"] < result["rows"] / 2  # one fold of three
    assert set(result["variants"]) == {"base", "epochs3", "cross_task"}
    for metrics in [result["tfidf"], *result["variants"].values()]:
        assert sum(d for d in metrics["by_language"].values()) > 0
        assert 0.0 <= metrics["roc_auc"] <= 1.0


def test_a_learning_curve_from_one_run_matches_shorter_runs(ablation):
    # Constant learning rate and the same seed: epoch 1 of the 3-epoch run *is* the 1-epoch run, so the
    # per-epoch scores are real runs, not estimates.
    result = json.loads(Path(ablation[0]).read_text())["variants"]
    curve = result["epochs3"]["by_epoch"]
    assert len(curve) == 3
    assert curve[0]["roc_auc"] == pytest.approx(result["base"]["roc_auc"], abs=1e-6)
    assert curve[-1]["roc_auc"] == result["epochs3"]["roc_auc"]
    assert curve[0]["roc_auc"] != curve[-1]["roc_auc"]


def test_cross_task_starts_from_the_qi_model(ablation):
    result = json.loads(Path(ablation[0]).read_text())["variants"]
    assert result["cross_task"]["roc_auc"] != pytest.approx(result["base"]["roc_auc"], abs=1e-9)
    assert result["cross_task"]["cpu_seconds"] > 0


def test_a_rerun_keeps_finished_variants_and_skips_cross_task_without_qi_data(ablation, capsys, tmp_path):
    out, argv = ablation
    before = json.loads(out.read_text())["variants"]
    options = dict(zip(argv[::2], argv[1::2], strict=True))
    del options["--qi-data"]
    assert quality_ablation.main([*_argv(options), "--variants", "base"]) == 0
    assert "base         (done earlier)" in capsys.readouterr().out
    assert json.loads(out.read_text())["variants"]["base"] == before["base"]

    options["--out"] = str(tmp_path / "fresh.json")
    assert quality_ablation.main([*_argv(options), "--variants", "cross_task"]) == 0
    assert "cross_task   skipped: it needs labelled QI data" in capsys.readouterr().out
    assert json.loads((tmp_path / "fresh.json").read_text())["variants"] == {}


def _argv(options: dict[str, str]) -> list[str]:
    return [x for pair in options.items() if pair[0] != "--variants" for x in pair]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variants", "bogus"], "unknown variants"),
        (["--only-folds", "7"], "must lie in 0..4"),
        (["--only-folds", "x"], "expects fold numbers"),
        (["--data", "/nonexistent.csv"], "not found"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(args, message, capsys, tmp_path):
    data = ["--data", str(SAMPLE / "qc_sample.jsonl")]
    assert quality_ablation.main([*data, *args, "--out", str(tmp_path / "x.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_the_report_shows_each_epoch_and_plots_auc_per_language(ablation, tmp_path):
    result = json.loads(Path(ablation[0]).read_text())
    table = quality_report.ablation_table(result)
    for row in ("| tfidf |", "| base |", "| epochs3 @ epoch 1 |", "| epochs3 @ epoch 3 |", "| cross_task |"):
        assert row in table
    png = quality_report.ablation_plot(result, tmp_path / "auc.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.isfinite(result["variants"]["base"]["threshold"])
