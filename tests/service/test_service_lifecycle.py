"""Hot reload under load, SIGHUP, graceful shutdown under load, model selection, the Python client."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from service_helpers import (
    FaultyFactory,
    OfflineScorer,
    assert_error,
    make_settings,
    metric_value,
    running,
    scrape,
    wait_ready,
)

from models import CARD_FILENAME, Task
from service.app import create_app
from service.client import AsyncRelevanceClient, RelevanceAPIError, RelevanceClient

PAIRS = [
    {"query": "running shoes", "category_path": "sports,running shoes"},
    {"query": "bolso de mujer", "category_path": "luggage & bags,women's handbags", "language": "es"},
]


def test_hot_reload_under_load(qc_checkpoint, second_qc_checkpoint, tmp_path) -> None:
    old_scores = OfflineScorer(qc_checkpoint)(Task.QC, PAIRS)
    new_scores = OfflineScorer(second_qc_checkpoint)(Task.QC, PAIRS)
    assert old_scores != pytest.approx(new_scores, abs=1e-4)
    expected = {"tiny-qc": old_scores, "tiny-qc-v2": new_scores}

    # Reload takes names in the model store: the new checkpoint and a broken copy of it are put there.
    store = tmp_path / "store"
    shutil.copytree(second_qc_checkpoint, store / "tiny-qc-v2")
    bad = store / "bad-ckpt"
    shutil.copytree(second_qc_checkpoint, bad)
    card = json.loads((bad / CARD_FILENAME).read_text())
    card["weights_sha256"] = "0" * 64
    (bad / CARD_FILENAME).write_text(json.dumps(card))
    settings = make_settings(qc_model=str(qc_checkpoint), models_dir=store, cache_size=0)
    with running(create_app(settings)) as url:
        stop = threading.Event()
        seen: list[tuple[int, str | None, list[float] | None]] = []

        def load() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    r = client.post("/v1/relevance/qc", json={"pairs": PAIRS})
                    body = r.json() if r.status_code == 200 else {}
                    seen.append(
                        (r.status_code, body.get("model"), [x["score"] for x in body.get("results", [])])
                    )

        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(0.3)
        r = httpx.post(f"{url}/admin/reload", json={"qc_model": "tiny-qc-v2"}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["generation"] == 2 and r.json()["models"][0]["name"] == "tiny-qc-v2"
        after = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": PAIRS}).json()
        time.sleep(0.3)
        stop.set()
        for w in workers:
            w.join()

        # A bad checkpoint is refused with a clear error; the current model keeps serving.
        error = assert_error(
            httpx.post(f"{url}/admin/reload", json={"qc_model": "bad-ckpt"}, timeout=60),
            400,
            "invalid_checkpoint",
        )
        assert "sha256" in error["message"] and "previous model" in error["message"]
        # A name not in the store is a 404 before any loading (not a refused reload).
        missing = httpx.post(f"{url}/admin/reload", json={"model": "nope"}, timeout=60)
        assert "no checkpoint 'nope'" in assert_error(missing, 404, "not_found")["message"]
        still = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": PAIRS}).json()
        metrics = scrape(url)

    assert after["model"] == "tiny-qc-v2"
    assert [x["score"] for x in after["results"]] == pytest.approx(new_scores, abs=1e-6)
    assert still["model"] == "tiny-qc-v2"
    assert {status for status, _, _ in seen} == {200}
    assert {model for _, model, _ in seen} == {"tiny-qc", "tiny-qc-v2"}
    for _, model, scores in seen:
        assert scores == pytest.approx(expected[model], abs=1e-6)
    assert metric_value(metrics, "relevance_model_reloads_total", {"result": "success"}) == 1
    assert metric_value(metrics, "relevance_model_reloads_total", {"result": "failure"}) == 1
    assert (
        metric_value(
            metrics, "relevance_model_info", {"task": "qc", "model": "tiny-qc-v2", "backend": "torch"}
        )
        == 1
    )
    assert metric_value(metrics, "relevance_model_info", {"task": "qc", "model": "tiny-qc"}) == 0


def test_newest_checkpoints_in_the_store_are_served(qc_checkpoint, joint_checkpoint, tmp_path) -> None:
    store = tmp_path / "store"
    shutil.copytree(joint_checkpoint, store / "joint")
    time.sleep(0.02)
    shutil.copytree(qc_checkpoint, store / "newer-qc")
    (store / "broken").mkdir()
    (store / "broken" / CARD_FILENAME).write_text("{}")
    with running(create_app(make_settings(models_dir=store))) as url:
        models = {m["name"]: m["tasks"] for m in httpx.get(f"{url}/v1/models").json()["models"]}
    assert models == {"tiny-qc": ["qc"], "tiny-joint": ["qi"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cli_sighup_reload_and_graceful_shutdown_under_load(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(qc_checkpoint, store / "a-qc")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RELEVANCE_BATCH_MAX_WAIT_MS": "1000", "RELEVANCE_CACHE_SIZE": "0"}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "--models-dir",
                str(store),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(url, deadline=time.monotonic() + 90)
        assert httpx.get(f"{url}/v1/models").json()["models"][0]["name"] == "tiny-qc"

        # SIGHUP re-reads the store: a newer checkpoint there is picked up without a restart.
        shutil.copytree(second_qc_checkpoint, store / "b-qc")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v1/models").json()["models"][0]["name"] != "tiny-qc-v2":
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)

        # SIGTERM while 30 requests wait in the batcher (max wait 1 s): every accepted request is answered.
        results: list[int] = []

        def one(i: int) -> None:
            r = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": [{**PAIRS[0], "id": i}]}, timeout=30)
            results.append(r.status_code)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while (m := scrape(url)) and metric_value(m, "relevance_inflight_requests") + metric_value(
            m, "relevance_requests_total", {"task": "qc", "status": "200"}
        ) < 30:  # all 30 accepted (nearly always all still waiting in the batcher)
            assert time.monotonic() < deadline, "requests did not arrive"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert results == [200] * 30
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line["message"] == "shut down cleanly" for line in lines)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)


def test_cli_refuses_a_missing_model_with_a_clear_error(tmp_path, capsys) -> None:
    from service.__main__ import main

    assert main(["--models-dir", str(tmp_path), "--port", "0"]) == 2
    assert "no servable checkpoint" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "nope")]) == 2
    assert main(["--batch-max-pairs", "0"]) == 2


def test_client_retries_503_while_the_model_loads(qc_checkpoint) -> None:
    factory = FaultyFactory(load_delay_s=1.0)
    app = create_app(make_settings(qc_model=str(qc_checkpoint), retry_after_s=1), backend_factory=factory)
    with running(app, ready=False) as url:
        slept: list[float] = []
        with RelevanceClient(url, sleep=lambda s: (slept.append(s), time.sleep(s))) as client:
            assert not client.ready()
            result = client.score_qc(PAIRS)
        assert len(result["results"]) == 2 and slept and all(s == 1.0 for s in slept)
        assert metric_value(scrape(url), "relevance_rejected_requests_total", {"reason": "not_ready"}) >= 1

        async def use_async() -> dict:
            async with AsyncRelevanceClient(url) as client:
                assert await client.ready()
                return await client.score_qc(PAIRS)

        assert asyncio.run(use_async())["results"] == result["results"]


def _scripted(statuses: list[tuple[int, dict]]):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers = statuses[min(len(calls), len(statuses) - 1)]
        calls.append(request)
        body = {"results": []} if status == 200 else {"error": {"type": "x", "message": "m", "param": None}}
        return httpx.Response(status, json=body, headers=headers)

    return handler, calls


def test_client_backoff_honours_retry_after_and_gives_up() -> None:
    handler, calls = _scripted([(429, {"Retry-After": "2"}), (503, {}), (200, {})])
    slept: list[float] = []
    client = RelevanceClient(
        "http://x", transport=httpx.MockTransport(handler), sleep=slept.append, backoff_s=0.1
    )
    assert client.score_qc(PAIRS) == {"results": []}
    assert len(calls) == 3 and slept[0] == 2.0 and 0.05 <= slept[1] <= 0.2

    handler, calls = _scripted([(422, {})])
    client = RelevanceClient("http://x", transport=httpx.MockTransport(handler), sleep=slept.append)
    with pytest.raises(RelevanceAPIError) as err:
        client.score_qc(PAIRS)
    assert err.value.status == 422 and len(calls) == 1  # not retryable

    handler, calls = _scripted([(429, {"Retry-After": "1"})])
    client = RelevanceClient(
        "http://x", transport=httpx.MockTransport(handler), sleep=slept.append, max_retries=2
    )
    with pytest.raises(RelevanceAPIError) as err:
        client.score_qc(PAIRS)
    assert err.value.status == 429 and len(calls) == 3

    handler, calls = _scripted([(503, {"Retry-After": "3"}), (200, {})])
    slept_async: list[float] = []

    async def record(seconds: float) -> None:
        slept_async.append(seconds)

    async def run() -> dict:
        async with AsyncRelevanceClient(
            "http://x", transport=httpx.MockTransport(handler), sleep=record
        ) as c:
            return await c.score_qi([{"query": "a", "item_title": "b"}])

    assert asyncio.run(run()) == {"results": []} and slept_async == [3.0]
    assert calls[-1].url.path == "/v1/relevance/qi"


def test_client_reloads_with_the_admin_key_and_scores_with_the_api_key() -> None:
    handler, calls = _scripted([(200, {})])
    transport = httpx.MockTransport(handler)
    with RelevanceClient("http://x", api_key="score", admin_key="admin", transport=transport) as client:
        client.score_qc(PAIRS)
        client.reload(model="tiny-qc-v2")
    score, reload = calls
    assert score.headers["authorization"] == "Bearer score"
    assert reload.url.path == "/admin/reload" and reload.headers["authorization"] == "Bearer admin"
    assert json.loads(reload.content) == {"model": "tiny-qc-v2"}

    async def run() -> None:
        async with AsyncRelevanceClient(
            "http://x", api_key="score", admin_key="admin", transport=httpx.MockTransport(handler)
        ) as c:
            await c.reload()

    asyncio.run(run())
    assert calls[-1].headers["authorization"] == "Bearer admin" and calls[-1].content == b""


def test_models_endpoint_lists_cards(joint_server: str) -> None:
    models = httpx.get(f"{joint_server}/v1/models").json()["models"]
    assert len(models) == 1
    model = models[0]
    assert model["name"] == "tiny-joint" and model["tasks"] == ["qc", "qi"] and model["backend"] == "torch"
    assert model["card"]["weights_sha256"] and model["max_length"] == 64
    assert Path(
        httpx.get(f"{joint_server}/openapi.json").json()["paths"]["/v1/relevance/qc"]["post"]["summary"]
    )
    assert httpx.get(f"{joint_server}/docs").status_code == 200


def test_reload_of_one_task_keeps_the_other_tasks_backend(
    qc_checkpoint, joint_checkpoint, second_qc_checkpoint
):
    factory = FaultyFactory()
    settings = make_settings(
        qc_model=str(qc_checkpoint), qi_model=str(joint_checkpoint), models_dir=second_qc_checkpoint.parent
    )
    with running(create_app(settings, backend_factory=factory)) as url:
        assert len(factory.backends) == 2
        r = httpx.post(f"{url}/admin/reload", json={"qc_model": "tiny-qc-v2"}, timeout=60)
        assert r.status_code == 200, r.text
        served = {m["name"]: m["tasks"] for m in r.json()["models"]}
        assert served == {"tiny-qc-v2": ["qc"], "tiny-joint": ["qi"]}
        assert len(factory.backends) == 3  # only the new QC model was loaded; QI's backend kept serving
        qi = httpx.post(f"{url}/v1/relevance/qi", json={"pairs": [{"query": "bag", "item_title": "handbag"}]})
        assert qi.status_code == 200 and qi.json()["model"] == "tiny-joint"
        # An empty reload re-reads the active checkpoints: nothing changed, nothing is loaded again.
        assert httpx.post(f"{url}/admin/reload", timeout=60).json()["generation"] == 3
        assert len(factory.backends) == 3


def test_batches_in_flight_default_follows_the_backend_and_flags_override_it() -> None:
    from service.__main__ import build_parser
    from service.settings import Settings

    assert Settings(_env_file=None).batches_in_flight == 1  # torch: one batch at a time, formed late
    assert Settings(_env_file=None, backend="vllm").batches_in_flight == 8
    args = build_parser().parse_args(["--backend", "vllm", "--batch-concurrency", "3"])
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    assert Settings(_env_file=None, **overrides).batches_in_flight == 3
    # torch: no fill wait (a CPU's cost is linear in pairs); vLLM: 1 ms; a flag overrides either
    assert Settings(_env_file=None).batch_wait_s == 0.0
    assert Settings(_env_file=None, backend="vllm").batch_wait_s == 0.001
    args = build_parser().parse_args(["--batch-max-wait-ms", "7.5"])
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    assert Settings(_env_file=None, **overrides).batch_wait_s == 0.0075
    assert Settings(_env_file=None, torch_compile="false").torch_compile is False
