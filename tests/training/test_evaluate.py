"""Metrics, threshold tuning, predictions files (training.evaluate) and the report (training.report)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from models import Task, TaskMetrics
from training.cli import main as cli_main
from training.data import DataError
from training.evaluate import (
    Prediction,
    TaskResult,
    compute_metrics,
    read_predictions,
    tune_threshold,
    write_predictions,
)
from training.report import write_report

LANGS = ["en", "ja", "ar", "th", "ko"]


def noisy(n: int, seed: int, *, pos_rate: float = 0.6) -> tuple[list[int], list[float], list[str]]:
    rng = random.Random(seed)
    labels = [int(rng.random() < pos_rate) for _ in range(n)]
    scores = [min(1.0, max(0.0, rng.gauss(0.65 if y else 0.35, 0.2))) for y in labels]
    return labels, scores, [rng.choice(LANGS) for _ in range(n)]


def brute_force_best_f1(labels: list[int], scores: list[float]) -> float:
    """Best F1 = 2TP / (predicted + actual positives) over every distinct cut, computed independently."""
    y, s = np.asarray(labels) == 1, np.asarray(scores)
    return max(2 * (y & (s >= t)).sum() / ((s >= t).sum() + y.sum()) for t in set(scores))


def test_metrics_match_sklearn() -> None:
    labels, scores, langs = noisy(400, seed=1)
    m = compute_metrics(labels=labels, scores=scores, languages=langs, threshold=0.42)
    assert isinstance(m, TaskMetrics)
    pred = (np.asarray(scores) >= 0.42).astype(int)
    assert m.f1 == pytest.approx(f1_score(labels, pred))
    assert m.precision == pytest.approx(precision_score(labels, pred))
    assert m.recall == pytest.approx(recall_score(labels, pred))
    assert m.roc_auc == pytest.approx(roc_auc_score(labels, scores))
    extra = m.model_extra
    assert extra["n"] == 400 and extra["threshold"] == 0.42
    rate = sum(labels) / 400
    assert extra["baseline_all_positive_f1"] == pytest.approx(f1_score(labels, [1] * 400))
    assert extra["baseline_all_positive_f1"] == pytest.approx(2 * rate / (1 + rate))
    for lang in LANGS:
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        y = [labels[i] for i in idx]
        p = [int(pred[i]) for i in idx]
        assert m.by_language[lang] == pytest.approx(f1_score(y, p, zero_division=0))
        d = extra["by_language_detail"][lang]
        assert d["n"] == len(idx)
        assert d["positive_rate"] == pytest.approx(sum(y) / len(y))
        assert d["roc_auc"] == pytest.approx(roc_auc_score(y, [scores[i] for i in idx]))
        assert d["baseline_all_positive_f1"] == pytest.approx(f1_score(y, [1] * len(y)))
    # the card stores metrics as JSON: it must serialise
    assert (
        json.loads(m.model_dump_json())["by_language_detail"]["en"]["n"]
        == extra["by_language_detail"]["en"]["n"]
    )


def test_one_class_language_has_no_auc() -> None:
    m = compute_metrics(
        labels=[1, 1, 0, 1], scores=[0.9, 0.2, 0.3, 0.8], languages=["ja", "ja", "en", "en"], threshold=0.5
    )
    detail = m.model_extra["by_language_detail"]
    assert detail["ja"]["roc_auc"] is None and detail["ja"]["f1"] == pytest.approx(2 / 3)
    assert detail["en"]["roc_auc"] == 1.0
    only_negative = compute_metrics(labels=[0, 0], scores=[0.1, 0.7], languages=["en", "en"], threshold=0.5)
    assert only_negative.roc_auc is None and only_negative.f1 == 0.0


def test_bad_metric_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        compute_metrics(labels=[1, 0], scores=[0.1], languages=["en", "en"], threshold=0.5)
    with pytest.raises(ValueError, match="0 or 1"):
        compute_metrics(labels=[2, 0], scores=[0.1, 0.2], languages=["en", "en"], threshold=0.5)
    with pytest.raises(ValueError, match="finite"):
        tune_threshold([1, 0], [float("nan"), 0.2])
    with pytest.raises(ValueError, match="no labelled"):
        tune_threshold([], [])


def test_tune_threshold_finds_crafted_optimum() -> None:
    # Positives mostly above 0.3; 0.5 would miss three positives at 0.32-0.45.
    labels = [0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]
    scores = [0.05, 0.1, 0.2, 0.32, 0.4, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95]
    t = tune_threshold(labels, scores)
    assert t == pytest.approx(0.32)  # F1 = 2*7/(2*7+1) at >= 0.32, the unique optimum
    pred = (np.asarray(scores) >= t).astype(int)
    assert f1_score(labels, pred) == pytest.approx(brute_force_best_f1(labels, scores))


@pytest.mark.parametrize("seed", range(5))
def test_tune_threshold_reaches_brute_force_optimum(seed: int) -> None:
    labels, scores, _ = noisy(300, seed=seed, pos_rate=0.3 + 0.1 * seed)
    t = tune_threshold(labels, scores)
    f1 = f1_score(labels, (np.asarray(scores) >= t).astype(int))
    assert f1 == pytest.approx(brute_force_best_f1(labels, scores))


def test_tune_threshold_prefers_half_when_it_is_optimal() -> None:
    # every threshold in (0.2, 0.9] separates perfectly: 0.5 is among them
    assert tune_threshold([0, 0, 1, 1], [0.1, 0.2, 0.9, 0.95]) == 0.5
    # optimum interval (0.6, 0.8]: the nearest point to 0.5 that still reaches it is the score 0.8
    assert tune_threshold([0, 0, 1, 1], [0.1, 0.6, 0.8, 0.95]) == pytest.approx(0.8)
    # no positives: F1 is 0 everywhere, keep the default
    assert tune_threshold([0, 0], [0.3, 0.7]) == 0.5


def test_predictions_round_trip_and_validation(tmp_path: Path) -> None:
    preds = [
        Prediction("a", Task.QC, "ja", 0.91, 1),
        Prediction("b", "QI", "th", 0.12, 0),  # type: ignore[arg-type]  # task strings are coerced
        Prediction("c", Task.QC, "ar", 0.5),
    ]
    path = tmp_path / "p.jsonl"
    write_predictions(path, preds)
    assert read_predictions(path) == [preds[0], Prediction("b", Task.QI, "th", 0.12, 0), preds[2]]
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[2]) == {
        "id": "c", "task": "qc", "language": "ar", "score": 0.5
    }  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "task": "qc", "language": "en", "score": 0.4, "label": 1}\n'
        '{"id": "b", "task": "qc", "language": "en", "score": 1.4}\n'
        "not json\n"
        '{"id": "a", "task": "QC", "language": "en", "score": 0.1}\n'
        '{"id": "d", "task": "qq", "language": "en", "score": 0.1}\n'
        '{"id": "e", "task": "qc", "language": "en"}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError) as err:
        read_predictions(bad)
    message = str(err.value)
    assert "5 invalid prediction row(s)" in message
    assert "line 2: score 1.4 is not a probability" in message
    assert "line 3:" in message
    assert "line 4: qc id 'a' repeats line 1" in message
    assert "line 5: unknown task 'qq'" in message
    assert "line 6: missing field(s) ['score']" in message


def _results() -> dict[Task, TaskResult]:
    qc = noisy(200, seed=3)
    qi = noisy(150, seed=4, pos_rate=0.4)
    return {
        Task.QC: TaskResult(*qc, threshold=tune_threshold(qc[0], qc[1]), tuned_from_oof=True),
        Task.QI: TaskResult(*qi, threshold=0.5, tuned_from_oof=False),
    }


def test_write_report_files(tmp_path: Path) -> None:
    out = tmp_path / "report"
    path = write_report(out, title="Fold eval ゼロ", results=_results(), notes="OOF over 5 folds.")
    assert path == out / "report.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Fold eval ゼロ") and "OOF over 5 folds." in text
    assert "| QC | 200 |" in text and "| QI | 150 |" in text
    assert "tuned for F1" in text and "given (not tuned" in text
    assert "Mean F1 over tasks" in text
    for lang in LANGS:
        assert f"| {lang} |" in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [f"{kind}_{t}.png" for kind in ("f1_by_language", "pr", "scores") for t in ("qc", "qi")]
    for name in pngs:
        assert (out / name).stat().st_size > 1000
        assert f"]({name})" in text
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["qc"]["tuned_from_oof"] is True and metrics["qi"]["threshold"] == 0.5
    # mapping form accepted too (callers build these from dicts)
    qc = _results()[Task.QC]
    write_report(tmp_path / "r2", title="t", results={"qc": {"labels": qc.labels, "scores": qc.scores,
                 "languages": qc.languages, "threshold": 0.5, "tuned_from_oof": False}})  # fmt: skip
    assert (tmp_path / "r2" / "report.md").is_file()


def test_failed_report_leaves_no_partial_output(tmp_path: Path) -> None:
    results = _results()
    qi = results[Task.QI]
    # QC (first) succeeds and writes its plots; QI then fails on mismatched languages
    results[Task.QI] = TaskResult(qi.labels, qi.scores, qi.languages[:-1], 0.5)
    out = tmp_path / "report"
    with pytest.raises(ValueError, match="languages must match"):
        write_report(out, title="x", results=results)
    assert list(tmp_path.iterdir()) == []
    # an existing report survives a failed rewrite untouched
    good = write_report(out, title="first", results=_results())
    with pytest.raises(ValueError):
        write_report(out, title="second", results=results)
    assert good.read_text(encoding="utf-8").startswith("# first")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_evaluate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels, scores, langs = noisy(120, seed=8)
    preds = [
        Prediction(str(i), Task.QC if i % 2 else Task.QI, lang, s, y)
        for i, (y, s, lang) in enumerate(zip(labels, scores, langs, strict=True))
    ]
    pred_path = tmp_path / "p.jsonl"
    write_predictions(pred_path, preds)
    out = tmp_path / "eval"
    assert cli_main(["evaluate", "--predictions", str(pred_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "qc: F1" in printed and "(tuned)" in printed
    assert "tuned for F1 on these same predictions" in (out / "report.md").read_text(encoding="utf-8")
    assert (
        cli_main(["evaluate", "--predictions", str(pred_path), "--threshold", "0.3", "--out", str(out)]) == 0
    )
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Threshold given: 0.3" in report and "| 0.300 |" in report
    unlabelled = tmp_path / "u.jsonl"
    write_predictions(unlabelled, [Prediction("x", Task.QC, "en", 0.4)])
    assert cli_main(["evaluate", "--predictions", str(unlabelled), "--out", str(tmp_path / "u")]) == 2
    assert not (tmp_path / "u").exists()
