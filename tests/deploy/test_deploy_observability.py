"""End to end: the real service under load, scraped by a real Prometheus loading the real rules; then every
PromQL expression of every dashboard panel and every rule runs through Prometheus' HTTP API.

No dead panels: each panel query must parse and return at least one finite value, each recording rule
must produce data, each alert expression must evaluate and every metric it names must exist. Panels on
vLLM's own `vllm:` metrics are only checked to parse here: this service runs the torch backend (a vLLM
backend run would export them; the vLLM tests cover that backend).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import tiny
import uvicorn
import yaml
from deploy_promql import (
    RULE_FILES,
    load_rules,
    metric_names,
    panel_queries,
    recorded_names,
    rule_queries,
    variable_queries,
)

from models import EncodedPair, Task
from service.app import create_app
from service.backends import load_backend
from service.backends.base import BackendError
from service.settings import Settings

pytestmark = pytest.mark.slow

API_KEY = "deploy-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
LANGUAGES = ["en", "es", "fr", "ja", "ko", "pt", "de", "ar", "xx", None]  # xx -> other, None -> unknown
MAX_PAIRS = 16
VLLM_KVCACHE_BYTES = 256 << 20  # the CPU engine's KV cache: plenty for a tiny model


class FlakyBackend:
    """The real torch backend; `fail` makes it raise like a dead engine, `delay_s` makes it slow."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.checkpoint = inner.checkpoint
        self.fail = False
        self.delay_s = 0.0

    @property
    def limits(self):
        return self.inner.limits

    async def score(self, batch: Sequence[EncodedPair]) -> list[float]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise BackendError("injected engine failure")
        return await self.inner.score(batch)

    async def healthy(self) -> bool:
        return await self.inner.healthy()

    async def close(self) -> None:
        await self.inner.close()


class FlakyFactory:
    def __init__(self) -> None:
        self.backends: list[FlakyBackend] = []

    async def __call__(self, checkpoint, settings) -> FlakyBackend:
        backend = FlakyBackend(await load_backend(checkpoint, settings))
        self.backends.append(backend)
        return backend

    def set(self, **attrs) -> None:
        for backend in self.backends:
            for key, value in attrs.items():
                setattr(backend, key, value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(app, *, timeout: float = 180.0) -> Iterator[str]:
    """uvicorn in a thread on a pre-bound loopback socket; yields the base URL once /health/ready is 200."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert thread.is_alive() and time.monotonic() < deadline, "service did not become ready"
            with contextlib.suppress(httpx.HTTPError):
                if server.started and httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextlib.contextmanager
def prometheus(binary: str, *, target: str, workdir: Path) -> Iterator[str]:
    """A real Prometheus on loopback: 1s scrape + rule evaluation, the repository's rules, temp storage."""
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULE_FILES],
        "scrape_configs": [{"job_name": "relevance", "static_configs": [{"targets": [target]}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"prometheus exited: {(workdir / 'prometheus.log').read_text()}"
            assert time.monotonic() < deadline, "prometheus did not become ready in 30s"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _pair(task: str, rng: random.Random, i: int) -> dict:
    words = ["red", "bolsa", "ドラクエ", "가방", "sac", "phone case", "Tasche", "حقيبة", "shoes", "kids"]
    query = " ".join(rng.sample(words, 2)) if i % 5 else "ドラクエ バッグ"  # some repeats: cache hits
    pair: dict = {"query": query, "id": str(i)}
    if (language := LANGUAGES[i % len(LANGUAGES)]) is not None:
        pair["language"] = language
    target = "luggage & bags,women's handbags,waist packs" if i % 5 == 0 else ",".join(rng.sample(words, 3))
    if i % 7 == 0:
        target = " ".join(["a very long item title with many words"] * 40)  # truncated at 64 tokens
    pair["category_path" if task == "qc" else "item_title"] = target
    return pair


async def _load(url: str, factory: FlakyFactory) -> Counter:
    """A bounded mixed load (~300 requests): valid traffic on both tasks, client errors, backend
    failures, and a burst against a slow backend that overflows the queue (429)."""
    rng = random.Random(0)
    statuses: Counter = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        steady, burst = asyncio.Semaphore(8), asyncio.Semaphore(64)

        async def call(method: str, path: str, kwargs: dict, gate: asyncio.Semaphore = steady) -> None:
            async with gate:
                response = await client.request(method, path, **kwargs)
                statuses[response.status_code] += 1

        def scoring(i: int) -> tuple[str, str, dict]:
            task = "qc" if i % 2 else "qi"
            pairs = [_pair(task, rng, i * 10 + j) for j in range(1 + i % 8)]
            body: dict = {"pairs": pairs}
            if i % 3 == 0:
                body["threshold"] = 0.0 if i % 2 else 1.0  # some relevant and irrelevant in every language
            return "POST", f"/v1/relevance/{task}", {"json": body, "headers": AUTH}

        ok = [scoring(i) for i in range(240)]
        bad = [
            *[("POST", "/v1/relevance/qc", {"json": {"pairs": [_pair("qc", rng, 1)]}})] * 8,  # no key: 401
            *[("POST", "/v1/relevance/qi", {"json": {"pairs": [{"query": "x"}]}, "headers": AUTH})]
            * 8,  # 422
            *[("POST", "/v1/relevance/qc", {"json": {"pairs": [_pair("qc", rng, 1)] * 17}, "headers": AUTH})]
            * 4,
            *[("POST", "/v1/relevance/xx", {"json": {"pairs": []}, "headers": AUTH})] * 4,  # 404
            *[("GET", "/v1/models", {"headers": AUTH})] * 4,
        ]
        calls = ok + bad
        rng.shuffle(calls)
        await asyncio.gather(*(call(*c) for c in calls))
        await client.get("/health/ready")

        factory.set(fail=True)  # the engine dies for a moment: 503 backend_unavailable
        await asyncio.gather(*(call(*scoring(i)) for i in range(6)))
        factory.set(fail=False)

        factory.set(delay_s=0.2)  # slow engine + a burst: the bounded queue sheds load with 429
        burst_calls = [scoring(7 + 8 * i) for i in range(40)]  # 8 pairs each, 64 queued at most
        await asyncio.gather(*(call(*c, gate=burst) for c in burst_calls))
        factory.set(delay_s=0.0)
        await client.get("/health/ready")
    return statuses


class Prom:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> dict:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", f"{expr!r}: {body}"
        return body["data"]

    def finite(self, expr: str) -> list[float]:
        data = self.query(expr)
        if data["resultType"] == "scalar":
            values = [float(data["result"][1])]
        else:
            values = [float(r["value"][1]) for r in data["result"]]
        return [v for v in values if math.isfinite(v)]

    def get(self, path: str, **params) -> dict:
        body = httpx.get(f"{self.url}{path}", params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]


def _wait(what: str, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _dead_panels(prom: Prom, *, vllm: bool) -> list[str]:
    """Panel queries that return no finite value; `vllm` selects the vLLM panels or the service's."""
    dead = []
    for query in panel_queries():
        if query.vllm != vllm:
            prom.query(query.expr)  # still parses and evaluates
        elif not prom.finite(query.expr):
            dead.append(f"{query.source}: {query.expr}")
    return dead


def translated(checkpoint: Path) -> Path:
    """`checkpoint` (a copy) carded as trained on Apertium's translations: its es/fr/pt pairs without
    query_en are translated by the service, which feeds the translation panels."""
    from models import CARD_FILENAME, ModelCard, TranslationSpec

    card = ModelCard.read(checkpoint / CARD_FILENAME)
    spec = TranslationSpec(engine="apertium", languages=["es", "fr", "pt"])
    inputs = card.input.model_copy(update={"uses_translation": True, "translation": spec})
    card.model_copy(update={"input": inputs}).write(checkpoint / CARD_FILENAME)
    return checkpoint


def test_every_panel_and_rule_returns_data(
    prometheus_bin: str,
    qc_checkpoint: Path,
    joint_checkpoint: Path,
    tmp_path: Path,
    with_training_rates,
    apertium,
) -> None:
    factory = FlakyFactory()
    settings = Settings(
        _env_file=None,
        # The cards' rates feed panels too, and the QC model translates queries (the translation panels).
        qc_model=str(translated(with_training_rates(qc_checkpoint, LANGUAGES))),
        qi_model=str(with_training_rates(joint_checkpoint, LANGUAGES)),
        models_dir=tmp_path / "store",
        api_keys=API_KEY,
        max_pairs_per_request=MAX_PAIRS,
        max_queue_pairs=64,
        batch_max_wait_ms=2,
        request_timeout_s=20,
    )
    with serving(create_app(settings, backend_factory=factory)) as url:
        target = url.removeprefix("http://")
        with prometheus(prometheus_bin, target=target, workdir=tmp_path) as prom_url:
            prom = Prom(prom_url)
            _wait("the first scrape", lambda: prom.finite(f'up{{instance="{target}"}}') == [1.0])
            statuses = asyncio.run(_load(url, factory))
            print("statuses:", dict(statuses))
            assert {200, 401, 404, 413, 422, 429, 503} <= set(statuses), statuses

            # Prometheus holds everything the service counted, and the rules have run on it.
            served = sum(statuses.values())
            _wait(
                "Prometheus to scrape the whole load",
                lambda: sum(prom.finite("sum(relevance_requests_total)")) >= served,
            )
            _wait(
                "recording rules",
                lambda: all(prom.finite(name) for name in recorded_names()),
            )

            # The torch backend runs here: vLLM panels only parse (test_vllm_panels_return_data runs them).
            dead = _dead_panels(prom, vllm=False)
            assert not dead, "panels without data:\n" + "\n".join(dead)

            for source, metric, label in variable_queries():
                if metric.startswith("vllm:"):
                    continue
                series = prom.get("/api/v1/series", **{"match[]": metric})
                assert any(label in s for s in series), f"{source}: no {metric} series with {label}"

            for query in rule_queries():
                prom.query(query.expr)  # every rule expression parses and evaluates
                for name in metric_names(query.expr) - recorded_names():
                    if not name.startswith("vllm:"):
                        assert prom.query(f'count({{__name__="{name}"}})')["result"], (
                            f"{query.source}: no {name}"
                        )

            rules = [r for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]]
            assert len(rules) == len(load_rules())
            assert all(r["health"] == "ok" and not r.get("lastError") for r in rules), rules

            # An alert without `for` fires end to end: the injected engine failures.
            def firing() -> set[str]:
                alerts = prom.get("/api/v1/alerts")["alerts"]
                return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}

            _wait("RelevanceBackendFailures to fire", lambda: "RelevanceBackendFailures" in firing())
            # ... and nothing else: no false alarm on a service that is up, ready and mostly healthy.
            assert firing() == {"RelevanceBackendFailures"}


@pytest.mark.vllm
def test_vllm_panels_return_data(prometheus_bin: str, tmp_path: Path) -> None:
    """The service on vLLM's real (CPU) engine: every vLLM dashboard panel returns data, and the
    vLLM-engine-down alert stays quiet for a healthy engine."""
    pytest.importorskip("vllm")
    checkpoint = tiny.card_checkpoint(
        tmp_path / "tiny-qwen3", tasks=(Task.QC, Task.QI), name="q", arch="qwen3"
    )
    settings = Settings(
        _env_file=None,
        backend="vllm",
        model=str(checkpoint),
        models_dir=tmp_path / "store",
        backend_options={
            "kv_cache_memory_bytes": VLLM_KVCACHE_BYTES,
            "enforce_eager": True,
        },  # no compile: fast start
        batch_max_wait_ms=2,
        request_timeout_s=60,
    )
    with serving(create_app(settings), timeout=600) as url:
        target = url.removeprefix("http://")
        with prometheus(prometheus_bin, target=target, workdir=tmp_path) as prom_url:
            prom = Prom(prom_url)
            _wait("the first scrape", lambda: prom.finite(f'up{{instance="{target}"}}') == [1.0])
            rng = random.Random(1)

            async def load() -> Counter:
                statuses: Counter = Counter()
                async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                    for i in range(30):
                        task = "qc" if i % 2 else "qi"
                        pairs = [_pair(task, rng, i * 10 + j) for j in range(1 + i % 4)]
                        response = await client.post(f"/v1/relevance/{task}", json={"pairs": pairs})
                        statuses[response.status_code] += 1
                    await client.get("/health/ready")
                return statuses

            statuses = asyncio.run(load())
            assert statuses == {200: 30}, statuses
            _wait(
                "Prometheus to scrape the vLLM engine's requests",
                lambda: sum(prom.finite("sum(vllm:e2e_request_latency_seconds_count)")) > 0,
            )
            _wait("a few more scrapes", lambda: time.sleep(3) or True)
            dead = _dead_panels(prom, vllm=True)
            assert not dead, "vLLM panels without data:\n" + "\n".join(dead)
            for source, metric, label in variable_queries():
                if metric.startswith("vllm:"):
                    series = prom.get("/api/v1/series", **{"match[]": metric})
                    assert any(label in s for s in series), f"{source}: no {metric} series with {label}"
            # The engine-down alert's expression is empty for a healthy engine (not pending, not firing).
            (rule,) = [r for r in load_rules() if r.get("alert") == "RelevanceVllmEngineDown"]
            assert prom.query(rule["expr"])["result"] == []
            assert prom.finite('relevance_model_info{backend="vllm"}') == [1.0, 1.0]
