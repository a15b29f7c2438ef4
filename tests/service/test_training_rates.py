"""The training rates a model card carries, exported per served model so the served relevant rate can be
compared with them (`relevance_training_*_rate`, alert RelevanceRelevantRateOffTraining)."""

from __future__ import annotations

import asyncio
import random
import shutil
from pathlib import Path

import pytest
from service_helpers import make_settings, metric_value

from models import CARD_FILENAME, ModelCard, ModelStore, Task, TaskMetrics
from service.backends import load_backend
from service.deployment import ModelManager, ModelRefs
from service.metrics import Metrics
from training.evaluate import compute_metrics

POSITIVE = "relevance_training_positive_rate"
RELEVANT = "relevance_training_relevant_rate"


def detail(**languages: dict) -> TaskMetrics:
    return TaskMetrics(f1=0.5, by_language_detail=languages)


def test_training_writes_the_rates_the_service_reads() -> None:
    rng = random.Random(3)
    labels = [int(rng.random() < 0.4) for _ in range(300)]
    scores = [rng.random() * 0.6 + 0.4 * y for y in labels]
    languages = [rng.choice(["es", "ja"]) for _ in labels]
    m = compute_metrics(labels=labels, scores=scores, languages=languages, threshold=0.5)
    rates = m.language_rates()
    assert set(rates) == {"es", "ja"}
    for lang, r in rates.items():
        idx = [i for i, x in enumerate(languages) if x == lang]
        assert r.n == len(idx)
        assert r.positive == pytest.approx(sum(labels[i] for i in idx) / len(idx))
        assert r.relevant == pytest.approx(sum(scores[i] >= 0.5 for i in idx) / len(idx))
    assert m.model_extra["predicted_positive_rate"] == pytest.approx(sum(s >= 0.5 for s in scores) / 300)
    # Through the card's JSON and back, as the service reads it.
    again = TaskMetrics.model_validate_json(m.model_dump_json())
    assert again.language_rates() == rates


def test_older_cards_derive_the_relevant_rate_or_leave_it_unknown() -> None:
    m = detail(
        # predicted positives / n = positive rate x recall / precision = 0.5 x 0.9 / 0.75
        es={"n": 40, "positive_rate": 0.5, "precision": 0.75, "recall": 0.9},
        ja={"n": 10, "positive_rate": 0.3, "precision": 0.0, "recall": 0.0},  # no true positive: unknown
        ko={"n": 10, "positive_rate": 0.6, "predicted_positive_rate": 0.7, "precision": 0.1, "recall": 1.0},
        pl={"n": 10, "positive_rate": 1.5},  # not a rate: ignored
        th="not a dict",
    )
    rates = m.language_rates()
    assert set(rates) == {"es", "ja", "ko"}
    assert rates["es"].relevant == pytest.approx(0.6) and rates["es"].positive == 0.5
    assert rates["ja"].relevant is None and rates["ja"].positive == 0.3
    assert rates["ko"].relevant == 0.7  # the explicit field wins
    assert TaskMetrics(f1=0.8, by_language={"es": 0.8}).language_rates() == {}  # no detail at all


def test_a_card_without_language_detail_loads_and_has_no_rates(qc_checkpoint: Path) -> None:
    card = ModelCard.read(qc_checkpoint / CARD_FILENAME)
    old = card.model_dump(mode="json")
    old["metrics"] = {"qc": {"f1": 0.8, "n": 5, "positive_rate": 0.6, "by_language_detail": {}}}
    assert ModelCard.model_validate(old).metrics[Task.QC].language_rates() == {}


def test_metrics_map_card_languages_to_the_pair_label_set() -> None:
    metrics = Metrics()
    qc = detail(
        es={"n": 100, "positive_rate": 0.5, "predicted_positive_rate": 0.6},
        vn={"n": 10, "positive_rate": 0.4, "predicted_positive_rate": 0.5},  # alias of vi
        xx={"n": 30, "positive_rate": 0.2, "predicted_positive_rate": 0.4},  # both land in "other",
        yy={"n": 10, "positive_rate": 0.6, "predicted_positive_rate": 0.8},  # weighted by their pairs
        zz={"n": 10, "positive_rate": 0.7, "precision": 0.0, "recall": 0.0},
    )
    metrics.set_training_rates([("qc", "m1", qc), ("qi", "m1", None)])
    text = metrics.render().decode()

    def value(name: str, language: str) -> float:
        return metric_value(text, name, {"task": "qc", "model": "m1", "language": language})

    assert value(POSITIVE, "es") == 0.5 and value(RELEVANT, "es") == 0.6
    assert value(POSITIVE, "vi") == 0.4 and value(RELEVANT, "vi") == 0.5
    assert value(POSITIVE, "other") == pytest.approx((30 * 0.2 + 10 * 0.6 + 10 * 0.7) / 50)
    # One of "other"'s languages has no relevant rate: a partial mean would mislead, so none is exported.
    assert f'{RELEVANT}{{language="other"' not in text
    assert 'task="qi"' not in "\n".join(line for line in text.splitlines() if "training_" in line)
    # A new set replaces the old one.
    metrics.set_training_rates([("qc", "m2", detail(ja={"n": 5, "positive_rate": 0.1}))])
    lines = [line for line in metrics.render().decode().splitlines() if line.startswith("relevance_training")]
    assert lines == [f'{POSITIVE}{{language="ja",model="m2",task="qc"}} 0.1']


def test_loaded_models_export_their_cards_rates(qc_checkpoint: Path, tmp_path: Path) -> None:
    carded = tmp_path / "store" / "carded-qc"
    shutil.copytree(qc_checkpoint, carded)
    card = ModelCard.read(carded / CARD_FILENAME)
    qc = detail(es={"n": 50, "positive_rate": 0.4, "predicted_positive_rate": 0.55})
    card.model_copy(update={"name": "carded-qc", "metrics": {Task.QC: qc}}).write(carded / CARD_FILENAME)
    plain = tmp_path / "store" / "plain-qc"
    shutil.copytree(qc_checkpoint, plain)  # the fixture's card has no metrics

    async def scenario() -> None:
        manager = ModelManager(
            refs=ModelRefs(task_models={Task.QC: "carded-qc"}),
            store=ModelStore(tmp_path / "store"),
            factory=load_backend,
            settings=make_settings(),
            metrics=Metrics(),
        )
        await manager.load_initial()
        text = manager.metrics.render().decode()
        labels = {"task": "qc", "model": "carded-qc", "language": "es"}
        assert metric_value(text, POSITIVE, labels) == 0.4
        assert metric_value(text, RELEVANT, labels) == 0.55
        await manager.reload(ModelRefs(task_models={Task.QC: "plain-qc"}))
        assert "relevance_training_positive_rate{" not in manager.metrics.render().decode()
        await manager.close()

    asyncio.run(scenario())
