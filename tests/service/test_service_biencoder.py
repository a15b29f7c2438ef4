"""A bi-encoder checkpoint served by the torch backend over real HTTP: scores equal offline predict."""

from __future__ import annotations

import httpx
import pytest
from service_helpers import make_settings, running

from models import Task
from service.app import create_app
from training.predict import predict

PAIRS = [
    {"query": "ドライヤー", "category_path": "home appliances,personal care appliances,hair dryers"},
    {"query": "peluche stitch", "category_path": ["toys & hobbies", "stuffed animals & plush"]},
    {"query": "peluche stitch", "category_path": "home appliances,personal care appliances,hair dryers"},
    {"query": "zapatillas", "category_path": "sports,running shoes"},
]


@pytest.fixture(scope="module")
def server(biencoder_run):
    _, record = biencoder_run
    with running(create_app(make_settings(model=record["checkpoint"], cache_size=0))) as url:
        yield url


def test_served_scores_equal_training_predict(server: str, biencoder_run, tmp_path) -> None:
    import json

    _, record = biencoder_run
    r = httpx.post(f"{server}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=30)
    assert r.status_code == 200, r.text
    served = [res["score"] for res in r.json()["results"]]
    rows = [
        {
            "id": i,
            "task": "QC",
            "language": "xx",
            "origin_query": p["query"],
            "category_path": p["category_path"]
            if isinstance(p["category_path"], str)
            else ",".join(p["category_path"]),
        }
        for i, p in enumerate(PAIRS)
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    offline = predict(checkpoint=record["checkpoint"], data=data, out=tmp_path / "out.jsonl", task=Task.QC)
    assert served == pytest.approx(offline.tolist(), abs=1e-5)
    assert served[0] != served[2]  # the head reads the pair, not only the query


def test_models_route_shows_the_kind_and_backend(server: str) -> None:
    r = httpx.get(f"{server}/v1/models", timeout=10)
    assert r.status_code == 200
    (model,) = r.json()["models"]
    assert model["name"] == "tiny-bi-qc" and model["backend"] == "torch"
    assert model["card"]["kind"] == "bi-encoder"
