"""Every task-specific part of the service follows from the task registry: a toy third task, registered
here and nowhere in the package, gets its route, schema, settings, CLI flag, metrics and reload field;
and the task-model settings accept every form, old names included."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import tiny
from pydantic import ValidationError
from service_helpers import OfflineScorer, assert_error, make_settings, metric_value, running, scrape

from models import Task, register_task, unregister_task
from service.app import create_app
from service.client import RelevanceClient
from service.settings import Settings

TOY = tiny.TOY_TASK
PAIRS = [
    {"query": "running shoes", "other_query": "trail running shoes", "id": "a", "language": "en"},
    {"query": "bolso de mujer", "other_query": "women's handbag", "language": "es"},
]


@pytest.fixture
def toy_task() -> Iterator[Task]:
    task = register_task(TOY)
    try:
        yield task
    finally:
        unregister_task(TOY.name)


def test_a_registered_task_is_served_with_no_package_change(toy_task: Task, tmp_path) -> None:
    checkpoint = tiny.card_checkpoint(tmp_path / "tiny-qq", tasks=(toy_task,), name="tiny-qq")
    # The app is created after registering; reload names checkpoints in the store (here tmp_path).
    app = create_app(make_settings(qq_model=str(checkpoint), models_dir=tmp_path))

    schema = app.openapi()
    assert schema["paths"]["/v1/relevance/qq"]["post"]["summary"] == "Score query-query pairs"
    pair = schema["components"]["schemas"]["QQPair"]
    assert "other_query" in pair["required"] and "query" in pair["required"]
    assert pair["properties"]["other_query"]["description"] == "the query to compare with"
    assert "qq_model" in schema["components"]["schemas"]["ReloadRequest"]["properties"]

    with running(app) as url:
        r = httpx.post(f"{url}/v1/relevance/qq", json={"pairs": PAIRS}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["task"] == "qq" and body["model"] == "tiny-qq"
        assert [res["id"] for res in body["results"]] == ["a", None]
        served = [res["score"] for res in body["results"]]
        assert served == pytest.approx(OfflineScorer(checkpoint)(toy_task, PAIRS), abs=1e-6)

        with RelevanceClient(url) as client:
            assert [x["score"] for x in client.score("qq", PAIRS)["results"]] == served

        missing = httpx.post(f"{url}/v1/relevance/qq", json={"pairs": [{"query": "a"}]})
        assert assert_error(missing, 422, "validation_error")["param"] == "pairs[0].other_query"
        blank = httpx.post(f"{url}/v1/relevance/qq", json={"pairs": [{"query": "a", "other_query": " "}]})
        assert assert_error(blank, 422, "validation_error")["param"] == "pairs[0].other_query"
        not_served = httpx.post(
            f"{url}/v1/relevance/qc", json={"pairs": [{"query": "a", "category_path": "b"}]}
        )
        assert "served: qq" in assert_error(not_served, 404, "unknown_task")["message"]
        unknown = assert_error(httpx.post(f"{url}/v1/relevance/zz", json={}), 404, "unknown_task")
        assert "qc, qi, qq" in unknown["message"]

        reload = httpx.post(f"{url}/admin/reload", json={"qq_model": "tiny-qq"}, timeout=60)
        assert reload.status_code == 200, reload.text
        assert reload.json()["models"][0]["tasks"] == ["qq"]
        metrics = scrape(url)

    assert metric_value(metrics, "relevance_requests_total", {"task": "qq", "status": "200"}) == 2
    assert metric_value(metrics, "relevance_pairs_scored_total", {"task": "qq", "language": "es"}) == 2
    assert metric_value(metrics, "relevance_model_info", {"task": "qq", "model": "tiny-qq"}) == 1
    assert 'relevance_pairs_truncated_total{task="qq"}' in metrics


def test_a_registered_task_has_its_settings_and_flag(toy_task: Task, monkeypatch) -> None:
    from service.__main__ import build_parser

    args = build_parser().parse_args(["--qq-model", "toy-model"])
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    assert Settings(_env_file=None, **overrides).task_models == {toy_task: "toy-model"}
    monkeypatch.setenv("RELEVANCE_QQ_MODEL", "from-env")
    assert Settings(_env_file=None).task_models == {toy_task: "from-env"}


def test_task_models_accept_every_form(monkeypatch) -> None:
    from service.__main__ import build_parser

    for key in ("RELEVANCE_QC_MODEL", "RELEVANCE_QI_MODEL", "RELEVANCE_TASK_MODELS", "RELEVANCE_MODEL"):
        monkeypatch.delenv(key, raising=False)
    assert Settings(_env_file=None).task_models == {}
    assert Settings(_env_file=None, qc_model="a", qi_model="b").task_models == {Task.QC: "a", Task.QI: "b"}
    assert Settings(_env_file=None, task_models={"qc": "a"}).task_models == {Task.QC: "a"}
    assert Settings(_env_file=None, task_models='{"qi": "b"}').task_models == {Task.QI: "b"}
    assert Settings(_env_file=None, task_models="qc=a, qi=b").task_models == {Task.QC: "a", Task.QI: "b"}

    monkeypatch.setenv("RELEVANCE_QC_MODEL", "old-qc")  # the names used before task_models
    monkeypatch.setenv("RELEVANCE_QI_MODEL", "")  # empty, as compose passes an unset variable
    assert Settings(_env_file=None).task_models == {Task.QC: "old-qc"}
    monkeypatch.setenv("RELEVANCE_TASK_MODELS", '{"qi": "env-qi"}')
    assert Settings(_env_file=None).task_models == {Task.QC: "old-qc", Task.QI: "env-qi"}
    # A flag for one task overrides the environment's model for that task and keeps the other's.
    args = build_parser().parse_args(["--qc-model", "flag-qc"])
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    assert Settings(_env_file=None, **overrides).task_models == {Task.QC: "flag-qc", Task.QI: "env-qi"}

    with pytest.raises(ValueError, match="unknown task 'zz'"):
        Settings(_env_file=None, task_models="zz=a")
    with pytest.raises(ValidationError, match="is not task=model"):
        Settings(_env_file=None, task_models="just-a-name")
    with pytest.raises(ValidationError):
        Settings(_env_file=None, task_models='{"qc": ')
    with pytest.raises(ValueError, match="not both"):
        Settings(_env_file=None, model="joint", qc_model="a")
