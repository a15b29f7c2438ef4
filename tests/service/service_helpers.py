"""Service test helpers: real uvicorn servers on loopback, tiny checkpoints, a fault-injecting backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import tiny
import uvicorn

from models import (
    EncodedPair,
    PairEncoder,
    PairInput,
    Task,
)
from service.backends import load_backend
from service.backends.base import BackendError
from service.settings import Settings


@contextlib.contextmanager
def running(app, *, ready: bool = True, timeout: float = 180.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    if ready:
        wait_ready(url, deadline=deadline)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def wait_ready(url: str, *, deadline: float) -> None:
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        assert time.monotonic() < deadline, "server never became ready"
        time.sleep(0.05)


def make_settings(**overrides) -> Settings:
    # Eager by default: compiling costs ~15 s per model load; test_torch_compile covers the compiled path.
    base = {"batch_max_wait_ms": 2.0, "request_timeout_s": 20.0, "torch_compile": False}
    return Settings(_env_file=None, **{**base, **overrides})


def carded_checkpoint(
    path: Path, *, tasks: tuple[Task, ...], name: str, seed: int, max_length: int = 64
) -> Path:
    """Like the `qc_checkpoint` fixture but with a chosen seed, so two checkpoints score differently."""
    return tiny.card_checkpoint(path, tasks=tasks, name=name, max_length=max_length, seed=seed)


class OfflineScorer:
    """Scores pairs without the service: `models.inference.score_encoded` on the same checkpoint."""

    def __init__(self, path: Path) -> None:
        from models import open_checkpoint
        from models.loading import load_model, load_tokenizer

        self.checkpoint = open_checkpoint(path)
        self.model = load_model(self.checkpoint)
        tokenizer = load_tokenizer(self.checkpoint)
        self.encoder = PairEncoder(tokenizer, self.checkpoint.card.input)
        self.pad_id = self.model.config.pad_token_id

    def __call__(self, task: Task, pairs: Sequence[dict]) -> list[float]:
        from models.inference import score_encoded

        target = task.spec.target_field
        encoded = self.encoder.encode_batch(
            [
                PairInput(task=task, query=p["query"], target=p[target], query_en=p.get("query_en"))
                for p in pairs
            ]
        )
        return score_encoded(self.model, encoded, pad_id=self.pad_id, batch_size=7).tolist()


class FaultyBackend:
    """A real torch backend with injectable faults: delay, failure, unhealthy. Records every batch."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.checkpoint = inner.checkpoint
        self.delay_s = 0.0
        self.fail = False
        self.unhealthy = False
        self.batches: list[int] = []

    @property
    def limits(self):
        return self.inner.limits

    async def score(self, batch: Sequence[EncodedPair]) -> list[float]:
        self.batches.append(len(batch))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise BackendError("injected failure: /secret/internal/path")
        return await self.inner.score(batch)

    async def healthy(self) -> bool:
        return not self.unhealthy and await self.inner.healthy()

    async def close(self) -> None:
        await self.inner.close()


class FaultyFactory:
    """Backend factory that wraps each loaded backend in `FaultyBackend`; `load_delay_s` delays loading."""

    def __init__(self, *, load_delay_s: float = 0.0) -> None:
        self.load_delay_s = load_delay_s
        self.backends: list[FaultyBackend] = []

    async def __call__(self, checkpoint, settings):
        if self.load_delay_s:
            await asyncio.sleep(self.load_delay_s)
        backend = FaultyBackend(await load_backend(checkpoint, settings))
        self.backends.append(backend)
        return backend

    @property
    def last(self) -> FaultyBackend:
        return self.backends[-1]


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample's value from Prometheus text (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return sample.value
    return 0.0


def scrape(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=10).text


def assert_error(response: httpx.Response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "param"}, body
    assert body["error"]["type"] == type_, body
    assert body["error"]["message"]
    assert response.headers.get("x-request-id")
    return body["error"]


def corrupt_weights(path: Path) -> Path:
    """Cut the checkpoint's weights short, as a half-finished copy leaves them, and re-hash its card: it
    passes the card's weights check and then fails to load (a failed load, not a refused card)."""
    from models import CARD_FILENAME
    from models.checkpoint import weight_files, weights_sha256

    for file in weight_files(path):
        file.write_bytes(file.read_bytes()[:100])
    card = json.loads((path / CARD_FILENAME).read_text())
    card["weights_sha256"] = weights_sha256(path)
    (path / CARD_FILENAME).write_text(json.dumps(card))
    return path


def predicted_qc_scores(checkpoint: Path, pairs: Sequence[dict], tmp_path: Path) -> list[float]:
    """`python -m training predict`'s scores for service-style QC `pairs` (the offline reference the
    served scores must equal), written as a rows file in the shared data's shape."""
    from training.predict import predict

    rows = [
        {
            "id": i,
            "task": "QC",
            "language": p.get("language", "xx"),
            "origin_query": p["query"],
            "category_path": p["category_path"]
            if isinstance(p["category_path"], str)
            else ",".join(p["category_path"]),
        }
        for i, p in enumerate(pairs)
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return predict(checkpoint=checkpoint, data=data, out=tmp_path / "out.jsonl", task=Task.QC).tolist()
