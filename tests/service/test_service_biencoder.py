"""A bi-encoder checkpoint served by the torch backend over real HTTP: scores equal offline predict."""

from __future__ import annotations

import httpx
import pytest
from service_helpers import make_settings, predicted_qc_scores, running

from models import Task
from service.app import create_app

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
    _, record = biencoder_run
    r = httpx.post(f"{server}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=30)
    assert r.status_code == 200, r.text
    served = [res["score"] for res in r.json()["results"]]
    assert served == pytest.approx(predicted_qc_scores(record["checkpoint"], PAIRS, tmp_path), abs=1e-5)
    assert served[0] != served[2]  # the head reads the pair, not only the query


def test_models_route_shows_the_kind_and_backend(server: str) -> None:
    r = httpx.get(f"{server}/v1/models", timeout=10)
    assert r.status_code == 200
    (model,) = r.json()["models"]
    assert model["name"] == "tiny-bi-qc" and model["backend"] == "torch"
    assert model["card"]["kind"] == "bi-encoder"


def test_a_target_catalogue_is_embedded_before_the_model_serves(biencoder_run, tmp_path) -> None:
    _, record = biencoder_run
    catalogue = tmp_path / "categories.txt"
    paths = ["sports,running shoes", "toys & hobbies,stuffed animals & plush", "home,kitchen,knives"]
    catalogue.write_text("\n".join([*paths, "", paths[0]]) + "\n", encoding="utf-8")  # blanks, repeats
    settings = make_settings(model=record["checkpoint"], cache_size=0, warm_targets={"qc": str(catalogue)})
    app = create_app(settings)
    with running(app) as url:
        backend = app.state.services.manager.current.model_for(Task.QC).backend
        # A bi-encoder's batch costs its distinct queries: wide batches, a request's pairs kept together.
        assert backend.limits.max_batch_pairs == 256 and not backend.limits.length_sorted
        model = backend.model
        cached = len(model.target_cache)
        assert cached == len(paths) + 1  # the catalogue and the start-up warm-up pair's target
        calls: list[int] = []
        embed = model.encoder.embed_ids
        model.encoder.embed_ids = lambda ids: calls.append(len(ids)) or embed(ids)
        pairs = [{"query": "zapatillas", "category_path": p} for p in paths]
        r = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": pairs}, timeout=30)
        assert r.status_code == 200, r.text
        assert calls == [1]  # the query alone: every target came from the catalogue


def test_an_unusable_target_catalogue_is_refused_with_its_path(tmp_path) -> None:
    from service.targets import read_catalogue

    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.txt holds no targets"):
        read_catalogue(empty)
    with pytest.raises(ValueError, match=r"cannot read .*missing\.txt"):
        read_catalogue(tmp_path / "missing.txt")
