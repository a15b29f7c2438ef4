"""Served scores equal offline scores; order, ids, thresholds, usage; batching under concurrency; cache."""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
from service_helpers import OfflineScorer, make_settings, metric_value, running, scrape

from models import Task
from service.app import create_app
from training.predict import predict

QC_PAIRS = [
    {
        "query": "ドラクエ バッグ",
        "category_path": "luggage & bags,women's handbags,waist packs",
        "language": "ja",
    },
    {
        "query": "zapatillas running",
        "category_path": ["sports", "running shoes"],
        "language": "es",
        "id": "x1",
    },
    {"query": "coque téléphone", "category_path": "mobile phones,cases covers", "language": "fr", "id": 7},
    {"query": "laptop keyboard", "category_path": "computer office,keyboard", "query_en": "laptop keyboard"},
    {"query": "여성 가방", "category_path": "luggage & bags,backpacks", "language": "ko"},
]
QI_PAIRS = [
    {"query": "running shoes", "item_title": "men's running shoes cycling helmets", "language": "en"},
    {"query": "borsa donna", "item_title": "women's handbags wallets", "language": "it", "id": "i2"},
    {"query": "etui na telefon", "item_title": "mobile phones cases covers chargers", "language": "pl"},
]


def test_served_scores_equal_offline_scores(joint_server: str, joint_offline: OfflineScorer) -> None:
    for task, pairs in ((Task.QC, QC_PAIRS), (Task.QI, QI_PAIRS)):
        r = httpx.post(f"{joint_server}/v1/relevance/{task.value}", json={"pairs": pairs}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "tiny-joint" and body["task"] == task.value
        served = [res["score"] for res in body["results"]]
        assert served == pytest.approx(joint_offline(task, pairs), abs=1e-6)
        assert [res["id"] for res in body["results"]] == [p.get("id") for p in pairs]
        assert all(res["relevant"] == (res["score"] >= 0.5) for res in body["results"])


def test_served_scores_equal_training_predict_scores(joint_server: str, joint_checkpoint, tmp_path) -> None:
    rows = [
        {
            "id": f"q{i}",
            "task": "qc",
            "language": p.get("language", "en"),
            "origin_query": p["query"],
            "category_path": p["category_path"]
            if isinstance(p["category_path"], str)
            else ",".join(p["category_path"]),
        }
        for i, p in enumerate(QC_PAIRS)
    ]
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    predict(
        checkpoint=joint_checkpoint,
        data=data,
        out=tmp_path / "sub.jsonl",
        scores_out=tmp_path / "scores.jsonl",
    )
    offline = {}
    for line in (tmp_path / "scores.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        offline[row["id"]] = row["score"]
    pairs = [{"query": r["origin_query"], "category_path": r["category_path"], "id": r["id"]} for r in rows]
    r = httpx.post(f"{joint_server}/v1/relevance/qc", json={"pairs": pairs}, timeout=30)
    assert r.status_code == 200, r.text
    for res in r.json()["results"]:
        assert res["score"] == pytest.approx(offline[res["id"]], abs=1e-6)


def test_threshold_path_forms_and_usage(joint_server: str) -> None:
    url = f"{joint_server}/v1/relevance/qc"
    as_list = {"query": "bag", "category_path": ["luggage & bags", "women's handbags"]}
    as_text = {"query": "bag", "category_path": "luggage & bags,women's handbags"}
    r = httpx.post(url, json={"pairs": [as_list, as_text]}).json()
    assert r["results"][0]["score"] == r["results"][1]["score"]  # both forms are the same model input
    score = r["results"][0]["score"]
    assert (
        httpx.post(url, json={"pairs": [as_list], "threshold": 0.0}).json()["results"][0]["relevant"] is True
    )
    assert httpx.post(url, json={"pairs": [as_list], "threshold": 1.0}).json()["results"][0]["relevant"] is (
        score >= 1.0
    )
    long_path = ",".join(["women's handbags luggage & bags waist packs backpacks wallets"] * 20)
    r = httpx.post(url, json={"pairs": [as_text, {"query": "bag", "category_path": long_path}]}).json()
    assert r["usage"]["pairs"] == 2 and r["usage"]["truncated"] == 1
    assert r["usage"]["tokens"] > 64  # the long pair alone is at the model's max length (64)


def test_200_concurrent_mixed_requests_are_batched_and_in_order(joint_checkpoint, joint_offline) -> None:
    rng = random.Random(0)
    words = [
        "women's",
        "handbags",
        "luggage",
        "bags",
        "shoes",
        "running",
        "phone",
        "case",
        "cover",
        "kitchen",
        "knives",
        "yoga",
        "mat",
    ]
    requests = []
    for i in range(200):
        n = rng.choice([1, 1, 2, 3, 5, 8, 16])
        requests.append(
            [
                {
                    "query": " ".join(rng.sample(words, rng.randint(1, 3))),
                    "category_path": ",".join(rng.sample(words, rng.randint(1, 8))),
                    "id": f"{i}-{j}",
                }
                for j in range(n)
            ]
        )
    settings = make_settings(
        model=str(joint_checkpoint), cache_size=0, batch_max_wait_ms=20, batch_max_pairs=32
    )
    with running(create_app(settings)) as url:

        async def fire() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
                return await asyncio.gather(
                    *(client.post("/v1/relevance/qc", json={"pairs": p}) for p in requests)
                )

        responses = asyncio.run(fire())
        metrics = scrape(url)
    flat = [p for pairs in requests for p in pairs]
    expected = dict(zip((p["id"] for p in flat), joint_offline(Task.QC, flat), strict=True))
    for pairs, r in zip(requests, responses, strict=True):
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [res["id"] for res in results] == [p["id"] for p in pairs]
        assert [res["score"] for res in results] == pytest.approx(
            [expected[p["id"]] for p in pairs], abs=1e-6
        )
    batches = metric_value(metrics, "relevance_batch_pairs_count")
    pairs_in_batches = metric_value(metrics, "relevance_batch_pairs_sum")
    assert pairs_in_batches == len(flat)  # warm-up batches bypass the batcher
    assert pairs_in_batches / batches > 1.5, (pairs_in_batches, batches)
    assert metric_value(metrics, "relevance_requests_total", {"task": "qc", "status": "200"}) == 200
    assert metric_value(
        metrics, "relevance_pairs_scored_total", {"task": "qc", "language": "unknown"}
    ) == len(flat)
    assert metric_value(metrics, "relevance_request_duration_seconds_count", {"task": "qc"}) == 200


def test_cache_hits_and_misses_are_counted(qc_checkpoint) -> None:
    with running(create_app(make_settings(qc_model=str(qc_checkpoint), cache_size=100))) as url:
        pairs = [
            {"query": "bag", "category_path": "luggage & bags"},
            {"query": "shoe", "category_path": "sports"},
        ]
        first = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": pairs}).json()
        second = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": [*pairs, pairs[0]]}).json()
        metrics = scrape(url)
    assert [r["score"] for r in second["results"]] == [r["score"] for r in first["results"]] + [
        first["results"][0]["score"]
    ]
    assert metric_value(metrics, "relevance_cache_misses_total", {"task": "qc"}) == 2
    assert metric_value(metrics, "relevance_cache_hits_total", {"task": "qc"}) == 3


def test_per_task_counters_exist_at_zero_before_any_request() -> None:
    """rate() over a counter needs a sample before the first increment; a load that starts and ends
    between two scrapes would otherwise leave the cache-hit-rate panel empty."""
    from service.metrics import Metrics

    text = Metrics().render().decode()
    for name in ("cache_hits", "cache_misses", "pairs_truncated"):
        for task in ("qc", "qi"):
            assert f'relevance_{name}_total{{task="{task}"}} 0.0' in text
