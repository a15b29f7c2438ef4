"""The whole service on the vLLM backend (`RELEVANCE_BACKEND=vllm`), over real HTTP on loopback.

One engine for the module, serving a joint QC+QI Gemma-3-text classifier with one label (sigmoid). The
last test kills the engine's process, so it must stay last in this file.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from service_helpers import OfflineScorer, assert_error, metric_value, running, scrape
from vllm_helpers import KVCACHE_BYTES, decoder_checkpoint, mixed_pairs

from models import PairInput, Task
from service.app import create_app
from service.settings import Settings

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@dataclass
class Server:
    url: str
    app: object
    checkpoint: Path


def as_json(pair: PairInput) -> dict:
    body = {"query": pair.query, "category_path" if pair.task is Task.QC else "item_title": pair.target}
    if pair.query_en:
        body["query_en"] = pair.query_en
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Iterator[Server]:
    path = decoder_checkpoint(
        tmp_path_factory.mktemp("vllm-http") / "gemma3-joint",
        arch="gemma3",
        tasks=(Task.QC, Task.QI),
        num_labels=1,
        name="gemma3-joint",
    )
    # Configured the way a deployment is: through RELEVANCE_* environment variables.
    monkeypatch_module.setenv("RELEVANCE_BACKEND", "vllm")
    monkeypatch_module.setenv("RELEVANCE_MODEL", str(path))
    monkeypatch_module.setenv("RELEVANCE_CACHE_SIZE", "0")
    monkeypatch_module.setenv("RELEVANCE_BACKEND_OPTIONS", f'{{"kv_cache_memory_bytes": {KVCACHE_BYTES}}}')
    settings = Settings(_env_file=None, batch_max_wait_ms=2.0, request_timeout_s=30.0)
    assert settings.backend == "vllm"
    app = create_app(settings)
    with running(app, timeout=900) as url:
        yield Server(url=url, app=app, checkpoint=path)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_http_scores_equal_torch_scores(server: Server) -> None:
    offline = OfflineScorer(server.checkpoint)
    for task in (Task.QC, Task.QI):
        pairs = [as_json(p) for p in mixed_pairs((task,))]
        r = httpx.post(f"{server.url}/v1/relevance/{task.value}", json={"pairs": pairs}, timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "gemma3-joint" and body["task"] == task.value
        assert body["usage"]["pairs"] == len(pairs) and body["usage"]["truncated"] >= 1
        got = [result["score"] for result in body["results"]]
        want = offline(task, pairs)
        assert max(want) - min(want) > 1e-3
        assert got == pytest.approx(want, abs=1e-3)


def test_metrics_carry_vllm_families_beside_the_service_ones(server: Server) -> None:
    text = scrape(server.url)
    assert metric_value(text, "relevance_model_info", {"backend": "vllm", "task": "qc"}) == 1
    assert metric_value(text, "relevance_pairs_scored_total", {"task": "qi", "language": "unknown"}) >= 4
    assert "vllm:num_requests_running" in text
    assert metric_value(text, "vllm:prompt_tokens_total") > 0
    assert metric_value(text, "relevance_backend_failures_total", {"backend": "vllm"}) == 0


def test_killed_engine_gives_503_and_readiness_false(server: Server) -> None:
    """Kill vLLM's engine-core process: requests fail fast with 503 (no hang), readiness turns 503."""
    assert httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200
    (backend,) = server.app.state.services.manager.current.unique_backends()
    assert backend.name == "vllm"
    processes = backend.engine.engine_core.resources.engine_manager.processes
    assert processes
    for process in processes:
        os.kill(process.pid, signal.SIGKILL)

    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/health/ready", timeout=10).status_code != 503:
        assert time.monotonic() < deadline, "readiness never noticed the dead engine"
        time.sleep(0.2)
    ready = httpx.get(f"{server.url}/health/ready", timeout=10)
    assert_error(ready, 503, "not_ready")
    assert httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200

    started = time.monotonic()
    r = httpx.post(
        f"{server.url}/v1/relevance/qc",
        json={"pairs": [{"query": "bolso", "category_path": "luggage & bags"}]},
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert r.status_code == 503, r.text
    assert_error(r, 503, "backend_unavailable")
    assert r.headers.get("retry-after")
    text = scrape(server.url)
    assert metric_value(text, "relevance_backend_failures_total", {"backend": "vllm"}) >= 1
    assert metric_value(text, "relevance_ready") == 0
