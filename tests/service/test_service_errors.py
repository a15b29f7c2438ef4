"""Every error path and limit answers with the one error body and is counted; API keys; request ids."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from service_helpers import FaultyFactory, assert_error, make_settings, metric_value, running, scrape

from models import PairEncoder
from service.app import create_app

PAIR = {"query": "running shoes", "category_path": "sports,running shoes"}


@pytest.fixture(scope="module")
def limited_server(qc_checkpoint) -> Iterator[str]:
    settings = make_settings(
        qc_model=str(qc_checkpoint), max_pairs_per_request=4, max_chars_per_field=50, max_body_bytes=2048
    )
    with running(create_app(settings)) as url:
        yield url


def _chunks(data: bytes, size: int = 256):
    for i in range(0, len(data), size):
        yield data[i : i + size]


# (method, path, request kwargs, status, error type, param)
CASES = [
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [{"query": "x"}]}},
        422,
        "validation_error",
        "pairs[0].category_path",
    ),
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [{**PAIR, "query": "   "}]}},
        422,
        "validation_error",
        "pairs[0].query",
    ),
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [{**PAIR, "category": "x"}]}},
        422,
        "validation_error",
        "pairs[0].category",
    ),
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [{**PAIR, "category_path": []}]}},
        422,
        "validation_error",
        "pairs[0].category_path",
    ),
    ("POST", "/v1/relevance/qc", {"json": {"pairs": []}}, 422, "validation_error", "pairs"),
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [PAIR], "threshold": 1.5}},
        422,
        "validation_error",
        "threshold",
    ),
    (
        "POST",
        "/v1/relevance/qc",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        422,
        "validation_error",
        None,
    ),
    ("POST", "/v1/relevance/qc", {"json": {"pairs": [PAIR] * 5}}, 413, "too_many_pairs", "pairs"),
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [PAIR, {**PAIR, "query": "q" * 51}]}},
        422,
        "text_too_long",
        "pairs[1].query",
    ),
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [{**PAIR, "category_path": ["a" * 30, "b" * 30]}]}},
        422,
        "text_too_long",
        "pairs[0].category_path",
    ),
    (
        "POST",
        "/v1/relevance/qc",
        {"json": {"pairs": [PAIR], "pad": "x" * 3000}},
        413,
        "body_too_large",
        "body",
    ),
    (
        "POST",
        "/v1/relevance/qc",
        {"content": _chunks(b'{"pairs": [' + b" " * 3000 + b"]}")},
        413,
        "body_too_large",
        None,
    ),
    ("POST", "/v1/relevance/xx", {"json": {"pairs": [PAIR]}}, 404, "unknown_task", "task"),
    (
        "POST",
        "/v1/relevance/qi",
        {"json": {"pairs": [{"query": "a", "item_title": "b"}]}},
        404,
        "unknown_task",
        "task",
    ),
    ("GET", "/v1/nothing", {}, 404, "not_found", None),
    ("GET", "/v1/relevance/qc", {}, 405, "method_not_allowed", None),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "type_", "param"), CASES)
def test_error_paths_share_one_body_and_are_counted(
    limited_server, method, path, kwargs, status, type_, param
):
    before = scrape(limited_server)
    if "content" in kwargs and not isinstance(kwargs["content"], bytes):
        kwargs = {**kwargs, "content": _chunks(b'{"pairs": [' + b" " * 3000 + b"]}")}  # fresh generator
    r = httpx.request(method, f"{limited_server}{path}", timeout=10, **kwargs)
    error = assert_error(r, status, type_)
    if status == 405:
        assert r.headers["allow"] == "POST"
    if param is not None:
        assert error["param"] == param
    after = scrape(limited_server)
    rejected = "relevance_rejected_requests_total"
    assert (
        metric_value(after, rejected, {"reason": type_})
        == metric_value(before, rejected, {"reason": type_}) + 1
    )
    task = {"/v1/relevance/qc": "qc", "/v1/relevance/qi": "qi", "/v1/relevance/xx": "unknown"}.get(
        path, "none"
    )
    requests = "relevance_requests_total"
    labels = {"task": task, "status": str(status)}
    assert metric_value(after, requests, labels) == metric_value(before, requests, labels) + 1


def test_api_keys(qc_checkpoint) -> None:
    settings = make_settings(qc_model=str(qc_checkpoint), api_keys="key-one, key-two", admin_keys="admin-key")
    with running(create_app(settings)) as url:
        post = f"{url}/v1/relevance/qc"
        assert_error(httpx.post(post, json={"pairs": [PAIR]}), 401, "unauthorized")
        assert_error(
            httpx.post(post, json={"pairs": [PAIR]}, headers={"Authorization": "Bearer nope"}),
            401,
            "unauthorized",
        )
        assert_error(
            httpx.post(post, json={"pairs": [PAIR]}, headers={"Authorization": "Basic a2V5LXR3bw=="}),
            401,
            "unauthorized",
        )
        ok = httpx.post(post, json={"pairs": [PAIR]}, headers={"Authorization": "Bearer key-two"})
        assert ok.status_code == 200
        assert_error(httpx.get(f"{url}/v1/models"), 401, "unauthorized")
        assert_error(httpx.post(f"{url}/admin/reload"), 401, "unauthorized")
        assert httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer key-one"}).status_code == 200
        # Probes and metrics stay open for the orchestrator and Prometheus.
        assert httpx.get(f"{url}/health/ready").status_code == 200
        metrics = scrape(url)
        assert metric_value(metrics, "relevance_rejected_requests_total", {"reason": "unauthorized"}) == 5


def test_request_id_is_echoed_or_generated(limited_server) -> None:
    r = httpx.post(
        f"{limited_server}/v1/relevance/qc", json={"pairs": [PAIR]}, headers={"X-Request-ID": "req-42"}
    )
    assert r.headers["x-request-id"] == "req-42"
    r = httpx.post(
        f"{limited_server}/v1/relevance/xx", json={}, headers={"X-Request-ID": "bad id\twith spaces"}
    )
    assert (
        r.status_code == 404 and len(r.headers["x-request-id"]) == 32 and " " not in r.headers["x-request-id"]
    )
    r1, r2 = httpx.get(f"{limited_server}/health/live"), httpx.get(f"{limited_server}/health/live")
    assert r1.headers["x-request-id"] != r2.headers["x-request-id"]


# --- failures injected into a real backend ---


@pytest.fixture(scope="module")
def faulty(qc_checkpoint) -> Iterator[tuple[str, FaultyFactory]]:
    factory = FaultyFactory()
    # One batch at a time: a request's pairs stay queued (droppable) while the slow batch runs.
    settings = make_settings(
        qc_model=str(qc_checkpoint), request_timeout_s=1.0, cache_size=0, retry_after_s=2, batch_concurrency=1
    )
    with running(create_app(settings, backend_factory=factory)) as url:
        yield url, factory


@pytest.fixture
def backend(faulty):
    _, factory = faulty
    backend = factory.last
    backend.delay_s, backend.fail, backend.unhealthy = 0.0, False, False
    backend.batches.clear()
    yield backend
    backend.delay_s, backend.fail, backend.unhealthy = 0.0, False, False


def test_backend_failure_is_503_without_internals(faulty, backend) -> None:
    url, _ = faulty
    backend.fail = True
    r = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": [PAIR]})
    error = assert_error(r, 503, "backend_unavailable")
    assert "secret" not in r.text and r.headers["retry-after"] == "2"
    assert "Traceback" not in error["message"]
    assert metric_value(scrape(url), "relevance_backend_failures_total", {"backend": "torch"}) >= 1
    backend.fail = False
    assert httpx.post(f"{url}/v1/relevance/qc", json={"pairs": [PAIR]}).status_code == 200


def test_unhealthy_backend_makes_ready_503(faulty, backend) -> None:
    url, _ = faulty
    backend.unhealthy = True
    assert_error(httpx.get(f"{url}/health/ready"), 503, "not_ready")
    assert metric_value(scrape(url), "relevance_ready") == 0
    assert httpx.get(f"{url}/health/live").status_code == 200
    backend.unhealthy = False
    assert httpx.get(f"{url}/health/ready").status_code == 200
    assert metric_value(scrape(url), "relevance_ready") == 1


def test_slow_backend_times_out_with_504(faulty, backend) -> None:
    url, _ = faulty
    backend.delay_s = 2.5
    started = time.monotonic()
    assert_error(httpx.post(f"{url}/v1/relevance/qc", json={"pairs": [PAIR]}, timeout=10), 504, "timeout")
    assert time.monotonic() - started < 2.4  # answered at the 1 s timeout, not when the batch ends
    time.sleep(1.6)  # let the slow batch drain before the next test


def test_internal_error_is_500_without_internals(faulty, backend, monkeypatch) -> None:
    url, _ = faulty

    def broken(self, pairs):
        raise RuntimeError("secret stack detail")

    # The served model's encoder (outside the backend) fails.
    monkeypatch.setattr(PairEncoder, "encode_batch", broken)
    r = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": [PAIR]})
    error = assert_error(r, 500, "internal_error")
    assert "secret" not in r.text and r.headers["x-request-id"] in error["message"]
    assert metric_value(scrape(url), "relevance_rejected_requests_total", {"reason": "internal_error"}) >= 1


def test_work_of_a_disconnected_client_is_dropped(faulty, backend) -> None:
    url, _ = faulty
    backend.delay_s = 0.7  # under the 1 s request timeout
    before = metric_value(scrape(url), "relevance_rejected_requests_total", {"reason": "client_closed"})

    async def until(condition) -> None:
        for _ in range(500):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached")

    async def scenario() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            first = asyncio.create_task(client.post("/v1/relevance/qc", json={"pairs": [PAIR]}))
            await until(lambda: backend.batches)  # the first batch is inside the slow backend
            async with httpx.AsyncClient(base_url=url, timeout=10) as impatient:
                three = [{**PAIR, "query": q} for q in ("bag", "phone case", "yoga mat")]
                second = asyncio.create_task(impatient.post("/v1/relevance/qc", json={"pairs": three}))
                async with httpx.AsyncClient(base_url=url) as probe:
                    for _ in range(500):  # until its 3 pairs wait in the queue
                        if metric_value((await probe.get("/metrics")).text, "relevance_queue_depth") >= 3:
                            break
                        await asyncio.sleep(0.01)
                    else:
                        raise AssertionError("the second request never reached the queue")
                second.cancel()  # the client goes away: its connection closes
                with pytest.raises(asyncio.CancelledError):
                    await second
            return (await first).status_code

    assert asyncio.run(scenario()) == 200
    time.sleep(0.5)
    assert backend.batches == [1]  # the 3 pairs of the client that left were never scored
    after = metric_value(scrape(url), "relevance_rejected_requests_total", {"reason": "client_closed"})
    assert after == before + 1


def test_full_queue_gives_429_and_nothing_else_fails(qc_checkpoint) -> None:
    factory = FaultyFactory()
    settings = make_settings(
        qc_model=str(qc_checkpoint),
        max_queue_pairs=12,
        max_pairs_per_request=4,
        batch_max_pairs=4,
        cache_size=0,
    )
    with running(create_app(settings, backend_factory=factory)) as url:
        factory.last.delay_s = 0.1

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=url, timeout=30, limits=httpx.Limits(max_connections=60)
            ) as c:
                return await asyncio.gather(
                    *(c.post("/v1/relevance/qc", json={"pairs": [{**PAIR, "id": i}] * 3}) for i in range(40))
                )

        responses = asyncio.run(burst())
        metrics = scrape(url)
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 429}, statuses
    for r in responses:
        if r.status_code == 429:
            assert_error(r, 429, "overloaded")
            assert r.headers["retry-after"] == "1"
        else:
            assert [res["id"] for res in r.json()["results"]] == [r.json()["results"][0]["id"]] * 3
    assert metric_value(
        metrics, "relevance_rejected_requests_total", {"reason": "overloaded"}
    ) == statuses.count(429)
    assert metric_value(
        metrics, "relevance_requests_total", {"task": "qc", "status": "429"}
    ) == statuses.count(429)
