"""`bench.translation_latency` end to end: the real service (a subprocess on loopback) and the real Apertium
on a tiny model whose card says it was trained on Apertium translations of es and fr queries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import tiny

from bench import translation_latency
from models.translation import ApertiumTranslator

ES = ["vestido rojo", "zapatos negros", "falda larga", "bolso de cuero", "camisa azul", "gafas de sol",
      "reloj de pulsera", "chaqueta de invierno", "pantalones cortos"]  # fmt: skip
FR = ["robe rouge", "chaussures noires", "sac à main", "montre en or", "veste en cuir"]


def write_data(path: Path) -> Path:
    """A QC CSV in the shared file's columns: es and fr queries, plus rows the bench must pass over (a
    repeated query, languages the model was not trained translated)."""
    rows = [("es", q, f"clothing,women's clothing,c{i}") for i, q in enumerate(ES)]
    rows += [("fr", q, f"bags,luggage,c{i}") for i, q in enumerate(FR)]
    rows += [("es", ES[0], "clothing,dresses"), ("en", "red dress", "clothing"), ("de", "rotes kleid", "x")]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["task", "language", "origin_query", "category_path", "label"])
        writer.writerows(["QC", lang, query, target, 1] for lang, query, target in rows)
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    tiny.apertium_checkpoint(root / "tiny-qc-apertium")
    tiny.card_checkpoint(root / "tiny-qc", name="tiny-qc")  # no translation in its card
    return root


def test_the_three_conditions_show_translation_and_its_cache(
    models_dir: Path, tmp_path: Path, apertium: ApertiumTranslator, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results" / "translation_latency.json"
    argv = [
        *("--models-dir", str(models_dir), "--model", "tiny-qc-apertium"),
        *("--data", str(write_data(tmp_path / "qc.csv")), "--out", str(out)),
        *("--requests", "3", "--pairs", "4", "--apertium-repeats", "2", "--no-torch-compile"),
        # Generous: the 2 cores are shared, and this test is about counting, not the default's fit.
        *("--translation-timeout-s", "20", "--work-dir", str(tmp_path / "work")),
    ]
    assert translation_latency.main(argv) == 0
    results = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "2 query_en missing, cold cache" in printed and "Apertium alone" in printed

    meta = results["meta"]
    assert meta["command"].startswith("python -m bench.translation_latency --models-dir")
    assert meta["machine"]["cpu_count"] >= 1 and meta["languages"] == ["es", "fr"]
    assert meta["warmup_metrics_delta"]["translations"] == 0, "warm-up must leave the cache cold"
    assert set(results["apertium_direct"]) == {"es", "fr"}
    assert set(results["apertium_direct"]["fr"]) == {"1", "4"}

    conditions = results["conditions"]
    assert list(conditions) == ["query_en_given", "cold_cache", "warm_cache"]
    for cell in conditions.values():
        assert cell["requests"] == 3 and cell["pairs_per_request"] == 4
        assert 0 < cell["p50_ms"] <= cell["p95_ms"] and cell["requests_per_s"] > 0
        assert cell["metrics_delta"]["failures"] == 0, cell["metrics_delta"]
    given, cold, warm = (conditions[k]["metrics_delta"] for k in conditions)
    assert given["translations"] == 0 and given["cache_hits"] == 0, "the client brought query_en"
    # Languages rotate (es, fr, es): 12 distinct queries, each translated once, then all from the cache.
    assert cold["translations"] == 12 and cold["translations_by_language"] == {"es": 8, "fr": 4}
    assert cold["cache_hits"] == 0 and cold["engine_calls"] >= 3
    assert warm["translations"] == 0 and warm["cache_hits"] == 12 and warm["engine_calls"] == 0
    # The same model input in every condition: the service filled what the client sent in the baseline.
    assert conditions["cold_cache"]["max_abs_score_diff_vs_baseline"] == 0
    assert conditions["warm_cache"]["max_abs_score_diff_vs_baseline"] == 0


def test_a_model_not_trained_on_apertium_is_refused(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    argv = [
        "--models-dir",
        str(models_dir),
        "--model",
        "tiny-qc",
        "--data",
        str(write_data(tmp_path / "qc.csv")),
    ]
    assert translation_latency.main([*argv, "--out", str(out)]) == 2
    assert "not 'apertium'" in capsys.readouterr().err and not out.exists()


def test_too_few_distinct_queries_is_an_error(models_dir: Path, tmp_path: Path) -> None:
    pools = translation_latency.query_pools(write_data(tmp_path / "qc.csv"), ["es", "fr"], seed=0)
    assert {lang: len(q) for lang, q in pools.items()} == {"es": len(ES), "fr": len(FR)}  # repeat dropped
    requests = translation_latency.draw_requests(pools, n=3, k=4)
    assert [r[0].language for r in requests] == ["es", "fr", "es"]
    assert len({q for r in requests for q in r}) == 12
    with pytest.raises(ValueError, match="only 3 requests of 4 distinct queries"):
        translation_latency.draw_requests(pools, n=4, k=4)
