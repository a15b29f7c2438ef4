"""The Cohere-compatible rerank API over real HTTP: the real `cohere` SDK (v1 and v2 clients) and LangChain's
Cohere reranker against a served tiny model, scores equal to `POST /v1/relevance/<task>`'s for the same
pairs, order / top_n / return_documents, the one error body, limits, API keys and metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

import cohere
import httpx
import pytest
from cohere.core.api_error import ApiError as CohereApiError
from langchain_cohere import CohereRerank
from langchain_core.documents import Document
from service_helpers import assert_error, make_settings, metric_value, running, scrape

from service.app import create_app

QUERY = "zapatillas running mujer"
TITLES = [
    "women's running shoes lightweight breathable",
    "stainless steel cookware set 10 pieces",
    "men's trail running shoes waterproof",
    "wireless bluetooth headphones",
    "yoga mat non slip",
    "women's handbags leather wallets",
]
CATEGORIES = ["sports & outdoors,running,running shoes", "home & garden,kitchen,cookware", "electronics"]


def relevance_scores(url: str, task: str, query: str, targets: Sequence[str]) -> list[float]:
    """The same pairs through the relevance route: the scores rerank must give."""
    field = {"qi": "item_title", "qc": "category_path"}[task]
    pairs = [{"query": query, field: t} for t in targets]
    r = httpx.post(f"{url}/v1/relevance/{task}", json={"pairs": pairs}, timeout=30)
    assert r.status_code == 200, r.text
    return [res["score"] for res in r.json()["results"]]


def assert_ranked(ranking: Sequence[tuple[int, float]], expected: Sequence[float], top_n: int) -> None:
    """`ranking` ((index, relevance_score), as served) is the `top_n` best of `expected` (the relevance
    route's scores), best first, each score within 1e-6 of the route's, ties in request order."""
    indices = [i for i, _ in ranking]
    scores = [score for _, score in ranking]
    assert len(set(indices)) == len(indices) == min(top_n, len(expected))
    assert scores == pytest.approx([expected[i] for i in indices], abs=1e-6)
    assert all(a > b or (a == b and i < j) for (i, a), (j, b) in pairwise(ranking))
    left_out = [expected[i] for i in range(len(expected)) if i not in indices]
    assert all(min(scores) >= score - 1e-6 for score in left_out)  # nothing better was cut


def test_cohere_v2_client_reranks_with_the_relevance_scores(joint_server: str) -> None:
    expected = relevance_scores(joint_server, "qi", QUERY, TITLES)
    co = cohere.ClientV2(api_key="unused", base_url=joint_server)
    response = co.rerank(model="tiny-joint", query=QUERY, documents=TITLES, top_n=3)
    assert_ranked([(r.index, r.relevance_score) for r in response.results], expected, 3)
    assert response.id and response.meta.tokens.input_tokens > 0
    assert response.model_extra["model"] == "tiny-joint" and response.model_extra["task"] == "qi"


def test_cohere_v1_client_return_documents_and_top_n_above_count(joint_server: str) -> None:
    expected = relevance_scores(joint_server, "qi", QUERY, TITLES)
    co = cohere.Client(api_key="unused", base_url=joint_server)
    documents = [TITLES[0], {"text": TITLES[1], "sku": "A-1"}, *TITLES[2:]]
    response = co.rerank(query=QUERY, documents=documents, top_n=50, return_documents=True)
    assert_ranked([(r.index, r.relevance_score) for r in response.results], expected, 50)  # all of them
    assert all(r.document.text == TITLES[r.index] for r in response.results)
    by_index = {r.index: r for r in response.results}
    assert by_index[1].document.model_extra == {"sku": "A-1"}  # a document's other fields come back
    plain = co.rerank(query=QUERY, documents=TITLES, top_n=2)  # return_documents defaults to false
    assert_ranked([(r.index, r.relevance_score) for r in plain.results], expected, 2)
    assert all(r.document is None for r in plain.results)


def test_the_task_picks_qc_in_the_body_or_as_the_model_name(joint_server: str) -> None:
    expected = relevance_scores(joint_server, "qc", QUERY, CATEGORIES)
    assert expected != relevance_scores(joint_server, "qi", QUERY, CATEGORIES)
    co = cohere.ClientV2(api_key="unused", base_url=joint_server)
    by_model = co.rerank(model="qc", query=QUERY, documents=CATEGORIES)
    by_task = co.rerank(
        model="any",
        query=QUERY,
        documents=CATEGORIES,
        request_options={"additional_body_parameters": {"task": "qc"}},
    )
    for response in (by_model, by_task):
        assert response.model_extra["task"] == "qc"
        assert_ranked([(r.index, r.relevance_score) for r in response.results], expected, 3)


@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank"])
@pytest.mark.parametrize("task", ["qi", "qc"])
def test_scores_equal_the_relevance_route_for_the_same_pairs(joint_server: str, path: str, task: str) -> None:
    targets = TITLES if task == "qi" else CATEGORIES
    documents = [*targets, targets[0]]  # a repeat scores the same and keeps request order on the tie
    expected = relevance_scores(joint_server, task, QUERY, documents)
    body = {"query": QUERY, "documents": [{"text": d} for d in documents], "task": task}
    r = httpx.post(f"{joint_server}{path}", json=body, timeout=30)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert_ranked([(res["index"], res["relevance_score"]) for res in results], expected, len(documents))
    last = len(documents) - 1
    tied = [(res["index"], res["relevance_score"]) for res in results if res["index"] in (0, last)]
    assert [i for i, _ in tied] == [0, last] and tied[0][1] == tied[1][1]
    assert all(set(res) == {"index", "relevance_score"} for res in results)


def test_langchain_cohere_rerank_compresses_documents(joint_server: str) -> None:
    expected = relevance_scores(joint_server, "qi", QUERY, TITLES)
    client = cohere.ClientV2(api_key="unused", base_url=joint_server)
    reranker = CohereRerank(client=client, model="tiny-joint", top_n=2)
    docs = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(TITLES)]
    compressed = reranker.compress_documents(docs, QUERY)
    assert_ranked([(d.metadata["n"], d.metadata["relevance_score"]) for d in compressed], expected, 2)
    assert all(d.page_content == TITLES[d.metadata["n"]] for d in compressed)


BAD = [
    ({"query": QUERY, "documents": []}, 422, "validation_error", "documents"),
    ({"query": QUERY, "documents": ["a"], "top_n": 0}, 422, "validation_error", "top_n"),
    ({"query": QUERY, "documents": ["a", {"text": ""}]}, 422, "validation_error", "documents[1].text"),
    ({"query": QUERY, "documents": ["a", "   "]}, 422, "validation_error", "documents[1].text"),
    ({"query": QUERY, "documents": ["a", {"title": "b"}]}, 422, "validation_error", "documents[1].text"),
    ({"query": QUERY, "documents": ["a"], "task": "xx"}, 422, "validation_error", "task"),
    ({"query": " ", "documents": ["a"]}, 422, "validation_error", "query"),
    ({"documents": ["a"]}, 422, "validation_error", "query"),
    ({"query": QUERY, "documents": ["a"], "topn": 1}, 422, "validation_error", "topn"),
]


@pytest.mark.parametrize(("body", "status", "type_", "param"), BAD)
def test_bad_input_gets_the_one_error_body(joint_server: str, body, status, type_, param) -> None:
    before = scrape(joint_server)
    r = httpx.post(f"{joint_server}/v1/rerank", json=body, timeout=10)
    assert assert_error(r, status, type_)["param"] == param
    labels = {"task": "rerank", "status": str(status)}
    requests = "relevance_requests_total"
    assert metric_value(scrape(joint_server), requests, labels) == metric_value(before, requests, labels) + 1


def test_malformed_json_is_the_one_error_body(joint_server: str) -> None:
    r = httpx.post(
        f"{joint_server}/v2/rerank", content=b"{", headers={"content-type": "application/json"}, timeout=10
    )
    assert_error(r, 422, "validation_error")


def test_the_sdk_sees_the_error_body(joint_server: str) -> None:
    co = cohere.ClientV2(api_key="unused", base_url=joint_server)
    with pytest.raises(CohereApiError) as raised:
        co.rerank(model="tiny-joint", query=QUERY, documents=["a"], top_n=0)
    assert raised.value.status_code == 422
    assert raised.value.body["error"]["type"] == "validation_error"


@pytest.fixture(scope="module")
def limited_url(joint_checkpoint) -> Iterator[str]:
    settings = make_settings(
        model=str(joint_checkpoint), max_pairs_per_request=4, max_chars_per_field=50, api_keys="k1"
    )
    with running(create_app(settings)) as url:
        yield url


def test_limits_api_keys_and_metrics(limited_url: str) -> None:
    auth = {"Authorization": "Bearer k1"}
    post = f"{limited_url}/v1/rerank"
    assert_error(httpx.post(post, json={"query": "q", "documents": ["a"]}), 401, "unauthorized")
    too_many = httpx.post(post, json={"query": "q", "documents": ["a"] * 5}, headers=auth)
    assert assert_error(too_many, 413, "too_many_pairs")["param"] == "documents"
    too_long = httpx.post(post, json={"query": "q", "documents": ["a", "b" * 51]}, headers=auth)
    assert assert_error(too_long, 422, "text_too_long")["param"] == "documents[1].text"
    long_query = httpx.post(post, json={"query": "q" * 51, "documents": ["a"]}, headers=auth)
    assert assert_error(long_query, 422, "text_too_long")["param"] == "query"

    before = scrape(limited_url)
    co = cohere.ClientV2(api_key="k1", base_url=limited_url)
    response = co.rerank(model="tiny-joint", query=QUERY, documents=TITLES[:4])
    assert len(response.results) == 4
    after = scrape(limited_url)
    pairs, qi = "relevance_pairs_scored_total", {"task": "qi", "language": "unknown"}
    assert metric_value(after, pairs, qi) == metric_value(before, pairs, qi) + 4
    ok = {"task": "rerank", "status": "200"}
    assert metric_value(after, "relevance_requests_total", ok) == 1
    duration = "relevance_request_duration_seconds_count"
    assert metric_value(after, duration, {"task": "rerank"}) == 5  # the 4 refused ones too
    with pytest.raises(CohereApiError) as raised:
        cohere.ClientV2(api_key="wrong", base_url=limited_url).rerank(model="m", query="q", documents=["a"])
    assert raised.value.status_code == 401


def test_openapi_documents_both_paths(joint_server: str) -> None:
    paths = httpx.get(f"{joint_server}/openapi.json", timeout=10).json()["paths"]
    assert {"/v1/rerank", "/v2/rerank"} <= set(paths)
