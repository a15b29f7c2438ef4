"""The replace reload strategy on vLLM's real CPU engine, over HTTP: the old engine is drained and shut down
before the new one starts (the two never run side by side, which is what lets a reload fit on one GPU),
readiness and scoring answer 503 with Retry-After meanwhile, and weights that fail to load bring the
previous engine back. Nothing is faked: the failed load is a checkpoint whose weights file is cut short."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
import tiny
from service_helpers import (
    OfflineScorer,
    assert_error,
    corrupt_weights,
    make_settings,
    metric_value,
    running,
    scrape,
)
from vllm_helpers import KVCACHE_BYTES

from models import Task
from service.app import create_app

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PAIRS = [
    {"query": "zapatillas running mujer", "category_path": "sports & outdoors,running,running shoes"},
    {"query": "ドラクエ バッグ", "category_path": "luggage & bags,women's handbags"},
    {"query": "bolso de mujer", "category_path": ["home & garden", "kitchen", "cookware"]},
]


@dataclass
class Server:
    url: str
    app: object
    store: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("vllm-reload") / "store"
    for name, seed in (("qwen3-a", 0), ("qwen3-b", 1)):
        tiny.card_checkpoint(
            store / name, arch="qwen3", tasks=(Task.QC,), name=name, max_length=48, num_labels=1, seed=seed
        )
    shutil.copytree(store / "qwen3-b", store / "half-copied")
    corrupt_weights(store / "half-copied")
    settings = make_settings(
        backend="vllm",
        model="qwen3-a",
        models_dir=store,
        reload_strategy="replace",
        cache_size=0,
        request_timeout_s=30.0,
        backend_options={"kv_cache_memory_bytes": KVCACHE_BYTES},
    )
    app = create_app(settings)
    with running(app, timeout=900) as url:
        yield Server(url=url, app=app, store=store)


def alive_children() -> list[psutil.Process]:
    """This process's descendants that still run (an engine's core and worker processes among them)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


@dataclass
class Watch:
    """Polls readiness and scoring, and which engine processes run, until stopped."""

    url: str
    old_engine: list[psutil.Process]
    since: float = field(default_factory=time.time)
    samples: list[dict] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                ready = client.get("/health/ready")
                scored = client.post("/v1/relevance/qc", json={"pairs": PAIRS})
                old_alive = any(p in alive_children() for p in self.old_engine)
                started = [p for p in alive_children() if p.create_time() >= self.since]
                self.samples.append(
                    {"ready": ready, "scored": scored, "old_alive": old_alive, "new_processes": len(started)}
                )
                time.sleep(0.05)


def scores(response: httpx.Response) -> list[float]:
    assert response.status_code == 200, response.text
    return [r["score"] for r in response.json()["results"]]


def test_replace_runs_one_engine_at_a_time_and_serves_the_new_model(server: Server) -> None:
    manager = server.app.state.services.manager
    assert manager.strategy == "replace"
    (old,) = manager.current.unique_backends()
    old_engine = [psutil.Process(p.pid) for p in old.engine.engine_core.resources.engine_manager.processes]
    assert old_engine and all(p in alive_children() for p in old_engine)
    watch = Watch(server.url, old_engine)
    watcher = threading.Thread(target=watch.run)
    watcher.start()
    try:
        time.sleep(0.3)
        reload = httpx.post(f"{server.url}/admin/reload", json={"model": "qwen3-b"}, timeout=600)
    finally:
        watch.stop.set()
        watcher.join(60)
    assert reload.status_code == 200, reload.text
    assert reload.json()["strategy"] == "replace"
    assert [m["name"] for m in reload.json()["models"]] == ["qwen3-b"]

    during = [s for s in watch.samples if s["ready"].status_code == 503]
    assert during, "readiness never turned 503 during the swap"
    for sample in during:
        assert_error(sample["ready"], 503, "not_ready")
        assert sample["ready"].headers["retry-after"] == "1"
    assert {s["ready"].status_code for s in watch.samples} <= {200, 503}
    assert {s["scored"].status_code for s in watch.samples} <= {200, 503}
    assert any("replace" in s["ready"].json()["error"]["message"] for s in during)
    refused = [s["scored"] for s in during if s["scored"].status_code == 503]
    assert refused and all(r.headers["retry-after"] == "1" for r in refused)
    # The new engine's processes came up only after the old engine's were gone.
    assert any(s["new_processes"] for s in watch.samples), "the new engine was never seen starting"
    assert not any(s["old_alive"] and s["new_processes"] for s in watch.samples)
    assert not any(p in alive_children() for p in old_engine) and old.engine is None

    assert httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200
    now = httpx.post(f"{server.url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=60)
    want = OfflineScorer(server.store / "qwen3-b")(Task.QC, PAIRS)
    assert now.json()["model"] == "qwen3-b" and scores(now) == pytest.approx(want, abs=1e-3)


def test_a_failed_load_brings_the_previous_engine_back(server: Server) -> None:
    before = httpx.post(f"{server.url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=60)
    serving = before.json()["model"]
    processes = len(alive_children())

    failed = httpx.post(f"{server.url}/admin/reload", json={"model": "half-copied"}, timeout=600)
    message = assert_error(failed, 400, "invalid_checkpoint")["message"]
    assert "replace reload" in message and "previous model was loaded again" in message

    assert httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200
    after = httpx.post(f"{server.url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=60)
    assert after.json()["model"] == serving and scores(after) == pytest.approx(scores(before), abs=1e-5)
    # One engine again, and nothing left over from the one that failed to start.
    assert len(alive_children()) == processes
    text = scrape(server.url)
    assert metric_value(text, "relevance_model_reloads_total", {"result": "failure"}) == 1
    assert metric_value(text, "relevance_model_info", {"model": serving, "backend": "vllm"}) == 1
