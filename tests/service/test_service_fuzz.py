"""Fuzz every operation of the OpenAPI spec (schemathesis): never a 500, always the one error body;
and the metric names of contract 3 are all exposed."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from service_helpers import make_settings, metric_value, running, scrape

from service.app import create_app

CONTRACT_METRICS = [
    "relevance_requests_total",
    "relevance_request_duration_seconds",
    "relevance_queue_duration_seconds",
    "relevance_tokenization_duration_seconds",
    "relevance_inference_duration_seconds",
    "relevance_batch_pairs",
    "relevance_batch_tokens",
    "relevance_queue_depth",
    "relevance_inflight_requests",
    "relevance_pairs_scored_total",
    "relevance_pairs_relevant_total",
    "relevance_pairs_truncated_total",
    "relevance_rejected_requests_total",
    "relevance_cache_hits_total",
    "relevance_cache_misses_total",
    "relevance_score",
    "relevance_model_info",
    "relevance_ready",
    "relevance_backend_failures_total",
    "relevance_model_reloads_total",
]


@pytest.mark.slow
def test_fuzzing_the_openapi_spec_finds_no_500(joint_checkpoint) -> None:
    app = create_app(
        make_settings(model=str(joint_checkpoint), max_pairs_per_request=8, max_chars_per_field=200)
    )
    schema = schemathesis.openapi.from_dict(app.openapi())
    # Reloading is an admin action with side effects (and slow): fuzzed separately by the reload tests.
    operations = [op.ok() for op in schema.get_all_operations() if op.ok().path != "/admin/reload"]
    assert {op.path for op in operations} >= {
        "/v1/relevance/qc",
        "/v1/relevance/qi",
        "/v1/models",
        "/health/ready",
    }
    statuses: list[int] = []
    with running(app) as url:
        for operation in operations:
            # ~100 examples in all: valid-by-schema cases (limits, blank text, odd unicode) and invalid ones.
            strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
                GenerationMode.NEGATIVE
            )

            @settings(max_examples=16, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=strategy)
            def check(case) -> None:
                response = case.call(base_url=url, timeout=30)
                statuses.append(response.status_code)
                assert response.status_code < 500, (case.as_curl_command(), response.text)
                if response.status_code >= 400:
                    body = response.json()
                    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "param"}

            check()
        metrics = scrape(url)
    assert 200 in statuses and 422 in statuses
    assert metric_value(metrics, "relevance_rejected_requests_total", {"reason": "internal_error"}) == 0


def test_contract_metric_names_are_exposed(joint_server: str) -> None:
    httpx.post(f"{joint_server}/v1/relevance/qc", json={"pairs": [{"query": "a", "category_path": "b"}]})
    text = scrape(joint_server)
    names = {line.split(" ")[2] for line in text.splitlines() if line.startswith("# TYPE")}
    names |= {n + "_total" for n in names}
    missing = [name for name in CONTRACT_METRICS if name not in names]
    assert not missing, missing
    assert 'le="0.001"' in text  # latency buckets start at 1 ms
    assert (
        metric_value(text, "relevance_model_info", {"task": "qi", "model": "tiny-joint", "backend": "torch"})
        == 1
    )
    assert metric_value(text, "relevance_ready") == 1


def test_event_counters_are_scraped_at_zero_before_the_first_event(joint_server: str) -> None:
    """rate() needs two samples: a counter that first appears with the event shows no rate after it."""
    samples = {line.split(" ")[0] for line in scrape(joint_server).splitlines() if not line.startswith("#")}
    assert 'relevance_backend_failures_total{backend="torch"}' in samples
    assert 'relevance_model_reloads_total{result="failure"}' in samples
    assert 'relevance_rejected_requests_total{reason="backend_unavailable"}' in samples
    assert 'relevance_cache_hits_total{task="qi"}' in samples
