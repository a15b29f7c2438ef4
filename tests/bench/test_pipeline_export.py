"""A real pipeline run (tiny BERT, the project's QC sample) kept by bench.pipeline_export and rendered
into a quality document beside TF-IDF on the same folds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench import pipeline_export, quality_report, tfidf_baseline
from training.config import load_run_config
from training.pipeline import run

SAMPLE = Path(__file__).resolve().parents[2] / "training" / "sample_data"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def finished_run(tiny_base, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pipeline")
    config = {
        "name": "qc-tiny-export",
        "tasks": ["qc"],
        "data": {"qc": str(SAMPLE / "qc_sample.jsonl")},
        "cv": {"folds": 3, "seed": 42},
        "train": {
            "base_model": str(tiny_base("bert")),
            "max_length": 48,
            "learning_rate": 3e-3,
            "batch_size": 8,
            "max_steps": 4,
            "eval_steps": 4,
            "lora": {"r": 4, "alpha": 8},
        },
        "models_dir": str(tmp / "models"),
        "work_dir": str(tmp / "work"),
    }
    (tmp / "run.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run(load_run_config(tmp / "run.yaml"))
    return tmp / "work"


@pytest.mark.slow
def test_export_keeps_metrics_and_plots_and_the_report_renders_them(finished_run, tmp_path):
    results, img = tmp_path / "results", tmp_path / "img"
    argv = [str(finished_run), "--name", "tiny_run", "--results-dir", str(results), "--img-dir", str(img)]
    assert pipeline_export.main([*argv, "--wall-minutes", "1.5", "--peak-rss-gib", "0.8"]) == 0

    kept = json.loads((results / "tiny_run.json").read_text())
    source = json.loads((finished_run / "report" / "run.json").read_text())
    assert kept["metrics"] == source["metrics"] and kept["thresholds"] == source["thresholds"]
    assert [f["fold"] for f in kept["fold_runs"]] == [0, 1, 2]
    assert all(f["total_steps"] == 4 for f in kept["fold_runs"])
    # Given numbers override the run's own; the CPU time is the one the pipeline recorded per fold.
    assert kept["cost"]["wall_minutes"] == 1.5 and kept["cost"]["peak_rss_gib"] == 0.8
    fold_cpu = [f["cpu_seconds"] for f in source["folds"]]
    assert all(c > 0 for c in fold_cpu) and kept["cost"]["cpu_minutes"] == round(sum(fold_cpu) / 60, 1)
    assert source["peak_rss_gib"] > 0.1  # torch and a model were loaded
    assert "oof_predictions" not in json.dumps(kept)  # aggregates only, never the data's rows
    by_fold = kept["by_fold"]["qc"]
    assert [f["fold"] for f in by_fold] == [0, 1, 2]
    assert sum(f["n"] for f in by_fold) == kept["metrics"]["qc"]["n"]
    assert all(0.0 <= f["roc_auc"] <= 1.0 and 0.0 <= f["f1"] <= 1.0 for f in by_fold)
    for plot in ("pr", "f1_by_language", "scores"):
        assert (img / f"tiny_run_{plot}_qc.png").read_bytes()[:8] == PNG

    tfidf_json = tmp_path / "tfidf.json"
    tfidf_argv = ["--data", str(SAMPLE / "qc_sample.jsonl"), "--folds", "3", "--out", str(tfidf_json)]
    assert tfidf_baseline.main(tfidf_argv) == 0
    doc = tmp_path / "quality.md"
    sections = "".join(f"<!-- {tag}:start -->\nSTALE\n<!-- {tag}:end -->\n" for tag in ("tfidf", "pipeline"))
    doc.write_text(f"# Q\n{sections}kept\n", encoding="utf-8")
    report_argv = ["--pipeline", str(results / "tiny_run.json"), "--tfidf", str(tfidf_json)]
    report_argv += ["--ablation", str(tmp_path / "none.json"), "--img-dir", str(img), "--update", str(doc)]
    assert quality_report.main(report_argv) == 0
    text = doc.read_text(encoding="utf-8")
    assert "STALE" not in text and text.endswith("kept\n")
    metrics = kept["metrics"]["qc"]
    assert f"| {metrics['f1']:.4f} | {metrics['f1_at_0_5']:.4f} |" in text
    assert f"Cost: 2 min wall, {kept['cost']['cpu_minutes']:.0f} min CPU, 0.80 GiB peak RSS." in text
    for lang, detail in metrics["by_language_detail"].items():
        assert f"| {lang} | {detail['n']:,} |" in text
    for f in by_fold:
        assert f"| {f['fold']} | {f['n']:,} | {f['positive_rate']:.3f} | 32 | {f['f1']:.4f} |" in text
    assert "(img/tiny_run_pr_qc.png)" in text and "TF-IDF + LR (same folds)" in text


def test_export_refuses_a_run_without_its_report(tmp_path, capsys):
    assert pipeline_export.main([str(tmp_path), "--name", "x", "--results-dir", str(tmp_path / "r")]) == 2
    assert "has `python -m training run` finished" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
