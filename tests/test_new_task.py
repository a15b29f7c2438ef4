"""A new task is one registry entry. This test registers a toy third task, query -> query ("qq": is a second
query a paraphrase-level match for the first?), with its own `TaskSpec` written here, and runs it through
every part: data file, formatting, CV folds, a tiny fine-tune, merge into a carded checkpoint, offline
predict, and the service's route over real HTTP with the project's client. No package file knows "qq"."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tiny

from models import ModelStore, PairEncoder, PairInput, Task, open_checkpoint, register_task
from models.loading import load_tokenizer
from models.tasks import normalise_query, unregister_task

# The service tests' helpers (real uvicorn on loopback); tests/service is no package.
sys.path.insert(0, str(Path(__file__).parent / "service"))

pytestmark = pytest.mark.slow

QUERIES = ["running shoes", "garden hose", "phone case", "yoga mat", "desk lamp", "coffee mug", "rain jacket"]
MATCHES = {
    "running shoes": ["trail runners", "jogging sneakers"],
    "garden hose": ["watering hose", "hose pipe"],
    "phone case": ["mobile cover", "iphone case"],
    "yoga mat": ["exercise mat", "pilates mat"],
    "desk lamp": ["reading light", "table lamp"],
    "coffee mug": ["tea cup", "ceramic mug"],
    "rain jacket": ["waterproof coat", "rain coat"],
}


@pytest.fixture(scope="module")
def qq() -> Iterator[Task]:
    task = register_task(tiny.TOY_TASK)
    try:
        yield task
    finally:
        unregister_task("qq")


def _rows() -> list[dict]:
    rows = []
    for i, query in enumerate(QUERIES):
        for other in MATCHES[query]:
            rows.append(
                {"task": "QQ", "language": "en", "origin_query": query, "other_query": other, "label": 1}
            )
        for other in MATCHES[QUERIES[(i + 3) % len(QUERIES)]]:
            rows.append(
                {"task": "QQ", "language": "en", "origin_query": query, "other_query": other, "label": 0}
            )
    return [{"id": f"qq-{i}", **row} for i, row in enumerate(rows)]


@pytest.fixture(scope="module")
def qq_file(tmp_path_factory: pytest.TempPathFactory, qq: Task) -> Path:
    path = tmp_path_factory.mktemp("qq-data") / "qq.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows()), encoding="utf-8")
    return path


def test_an_unregistered_task_fails_loudly() -> None:
    from models import UnknownTaskError

    with pytest.raises(UnknownTaskError, match=r"unknown task 'zz'; registered tasks: .*qc.*qi"):
        Task("zz")


def test_data_formatting_and_folds_follow_the_spec(qq: Task, qq_file: Path, tiny_base) -> None:
    from training.data import load_examples
    from training.splits import check_no_leakage, make_folds

    examples, report = load_examples(qq_file)
    assert {e.task for e in examples} == {qq} and report.rows_kept == len(_rows())
    assert examples[0].target == "trail runners"  # read from the spec's target field

    tokenizer = load_tokenizer(tiny_base("bert"))
    from models import InputSpec

    spec = InputSpec(max_length=12, task_prefix={qq: "query-query: "})
    encoder = PairEncoder(tokenizer, spec)
    long_target = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    pair = encoder.encode(PairInput(task=qq, query="yoga mat", target=long_target))
    assert pair.truncated and pair.num_tokens == 12
    text = tokenizer.decode(pair.input_ids)
    assert "alpha" in text and "kappa" not in text  # truncate_from="right": the target keeps its start

    folds = make_folds(examples, n_folds=3, seed=0)
    check_no_leakage(examples, folds)
    by_group: dict[str, set[int]] = {}
    for ex, fold in zip(examples, folds, strict=True):
        by_group.setdefault(normalise_query(ex.query), set()).add(fold)
    assert all(len(f) == 1 for f in by_group.values())  # the spec's group key: one query, one fold


@pytest.fixture(scope="module")
def qq_checkpoint(qq: Task, qq_file: Path, tiny_base, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.config import TrainConfig
    from training.data import load_examples
    from training.finetune import finetune
    from training.merge import merge_to_checkpoint

    examples, _ = load_examples(qq_file)
    work = tmp_path_factory.mktemp("qq-run")
    config = TrainConfig.model_validate(
        {
            "base_model": str(tiny_base("bert")),
            "tasks": ["qq"],
            "max_length": 32,
            "max_steps": 3,
            "batch_size": 4,
            "learning_rate": 1e-3,
            "logging_steps": 1,
        }
    )
    result = finetune(train=examples, eval=None, config=config, output_dir=work / "ft")
    return merge_to_checkpoint(
        model_dir=result.model_dir,
        config=config,
        name="tiny-qq",
        store=ModelStore(work / "store"),
        thresholds={qq: 0.5},
        check_examples=examples[:8],
    )


def test_fine_tune_and_merge_publish_a_card_for_the_new_task(qq: Task, qq_checkpoint: Path) -> None:
    checkpoint = open_checkpoint(qq_checkpoint)
    assert checkpoint.card.tasks == [qq] and checkpoint.serves(qq)
    assert json.loads((qq_checkpoint / "relevance.json").read_text())["tasks"] == ["qq"]


def test_the_service_serves_the_new_task(
    qq: Task, qq_checkpoint: Path, qq_file: Path, tmp_path: Path
) -> None:
    from service_helpers import make_settings, running

    from service.app import create_app
    from service.client import RelevanceAPIError, RelevanceClient
    from training.predict import predict

    offline = predict(checkpoint=qq_checkpoint, data=qq_file, out=tmp_path / "submission.jsonl")
    rows = _rows()
    app = create_app(make_settings(models_dir=str(qq_checkpoint.parent), model="tiny-qq", cache_size=0))
    with running(app) as url, RelevanceClient(url) as client:
        pairs = [{"id": r["id"], "query": r["origin_query"], "other_query": r["other_query"]} for r in rows]
        answer = client.score("qq", pairs)
        assert answer["task"] == "qq" and answer["model"] == "tiny-qq"
        served = np.array([r["score"] for r in answer["results"]])
        np.testing.assert_allclose(served, offline, atol=1e-5)
        assert [r["id"] for r in answer["results"]] == [r["id"] for r in rows]

        with pytest.raises(RelevanceAPIError) as missing:  # the task's own field is required
            client.score("qq", [{"query": "yoga mat", "item_title": "exercise mat"}])
        assert missing.value.status == 422
        with pytest.raises(RelevanceAPIError) as other:  # registered, but not served by this model
            client.score("qc", [{"query": "yoga mat", "category_path": "sports,yoga"}])
        assert other.value.status == 404
        spec = client.request("GET", "/openapi.json")
        assert "/v1/relevance/qq" in spec["paths"]
