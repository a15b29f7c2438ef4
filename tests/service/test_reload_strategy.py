"""The reload strategies (`RELEVANCE_RELOAD_STRATEGY`): how `auto` resolves, and the `replace` strategy
(drain, free the old model, load the new one; 503 with Retry-After meanwhile; a failed load brings the old
model back, or leaves the service clearly not ready). The real torch backend on the tiny checkpoints; a fake
factory only injects load failures and holds a load back to observe the swap. The same on vLLM's CPU
engine: `test_vllm_reload.py`."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from service_helpers import (
    OfflineScorer,
    assert_error,
    corrupt_weights,
    make_settings,
    metric_value,
    running,
    scrape,
)

import service.settings as settings_module
from models import CARD_FILENAME, ModelStore, PairInput, Task
from service.__main__ import build_parser
from service.app import create_app
from service.backends import Backend, load_backend
from service.client import RelevanceClient
from service.deployment import ModelManager, ServedModel
from service.errors import ApiError, ErrorType
from service.metrics import Metrics
from service.plan import ModelRefs
from service.settings import Settings

Factory = Callable[..., Awaitable[Backend]]
PAIRS = [
    {"query": "running shoes", "category_path": "sports,running shoes"},
    {"query": "bolso de mujer", "category_path": "luggage & bags,women's handbags", "language": "es"},
]


# --- which strategy runs ---


def test_auto_resolves_to_replace_only_for_vllm_on_a_gpu(monkeypatch) -> None:
    monkeypatch.setattr(settings_module, "cuda_visible", lambda: False)
    assert make_settings().reload_strategy == "auto"
    assert make_settings().resolved_reload_strategy == "side_by_side"
    assert make_settings(backend="vllm").resolved_reload_strategy == "side_by_side"  # vLLM's CPU build
    assert make_settings(backend="vllm", device="cuda:0").resolved_reload_strategy == "replace"
    assert make_settings(device="cuda:0").resolved_reload_strategy == "side_by_side"  # torch on a GPU
    # vLLM picks its device itself: a GPU torch can see is where its engine runs, whatever `device` says.
    monkeypatch.setattr(settings_module, "cuda_visible", lambda: True)
    assert make_settings(backend="vllm").resolved_reload_strategy == "replace"
    assert make_settings().resolved_reload_strategy == "side_by_side"
    # An explicit strategy is taken as given.
    explicit = make_settings(backend="vllm", reload_strategy="side_by_side")
    assert explicit.resolved_reload_strategy == "side_by_side"
    assert make_settings(reload_strategy="replace").resolved_reload_strategy == "replace"


def test_the_strategy_is_a_setting_like_every_other(monkeypatch) -> None:
    monkeypatch.setenv("RELEVANCE_RELOAD_STRATEGY", "replace")
    monkeypatch.setenv("RELEVANCE_RELOAD_DRAIN_S", "2.5")
    settings = Settings(_env_file=None)
    assert settings.reload_strategy == "replace" and settings.reload_drain_s == 2.5
    assert {"RELEVANCE_RELOAD_STRATEGY", "RELEVANCE_RELOAD_DRAIN_S"} <= Settings.env_names()
    with pytest.raises(ValidationError):
        Settings(_env_file=None, reload_strategy="swap")
    assert build_parser().parse_args(["--reload-strategy", "side_by_side"]).reload_strategy == "side_by_side"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--reload-strategy", "swap"])


# --- the manager, without a server ---


def replacing_manager(refs: ModelRefs, *, factory: Factory = load_backend, tmp_path: Path, **settings):
    return ModelManager(
        refs=refs,
        store=ModelStore(tmp_path / "store"),
        factory=factory,
        settings=make_settings(retry_after_s=3, reload_strategy="replace", **settings),
        metrics=Metrics(),
    )


async def score(served: ServedModel, task: Task = Task.QC) -> list[float]:
    encoded = served.encoder.encode_batch([PairInput(task=task, query="bag", target="luggage & bags")])
    return await served.backend.score(encoded)


def qc(path: Path) -> ModelRefs:
    return ModelRefs(task_models={Task.QC: str(path)})


def test_replace_closes_the_old_model_before_loading_the_new_one(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    seen: dict = {}

    async def observing(checkpoint, settings) -> Backend:
        if checkpoint.name == "tiny-qc-v2":  # what the service looks like while the new model loads
            manager, old = seen["manager"], seen["old"]
            seen["current"] = manager.current
            seen["old_open"] = await old.backend.healthy()
            seen["ready_gauge"] = metric_value(manager.metrics.render().decode(), "relevance_ready")
            with pytest.raises(ApiError) as err:
                async with manager.lease():
                    pass
            seen["error"] = err.value
        return await load_backend(checkpoint, settings)

    async def scenario() -> None:
        manager = seen["manager"] = replacing_manager(qc(qc_checkpoint), factory=observing, tmp_path=tmp_path)
        assert manager.strategy == "replace"
        await manager.load_initial()
        seen["old"] = manager.current.model_for(Task.QC)
        new = await manager.reload(qc(second_qc_checkpoint))
        assert seen["current"] is None and seen["old_open"] is False and seen["ready_gauge"] == 0
        error = seen["error"]
        assert error.type is ErrorType.NOT_READY and error.headers == {"Retry-After": "3"}
        assert "replace" in error.message and "loading" in error.message
        assert manager.current is new and new.generation == 2
        assert new.model_for(Task.QC).checkpoint.name == "tiny-qc-v2"
        assert len(await score(new.model_for(Task.QC))) == 1
        text = manager.metrics.render().decode()
        assert metric_value(text, "relevance_ready") == 1
        assert metric_value(text, "relevance_model_reloads_total", {"result": "success"}) == 1
        await manager.close()

    asyncio.run(scenario())


def test_replace_drains_requests_in_flight_before_closing_the_old_model(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    loads: list[str] = []

    async def counting(checkpoint, settings) -> Backend:
        loads.append(checkpoint.name)
        return await load_backend(checkpoint, settings)

    async def scenario() -> None:
        manager = replacing_manager(qc(qc_checkpoint), factory=counting, tmp_path=tmp_path)
        await manager.load_initial()
        async with manager.lease() as leased:
            old = leased.model_for(Task.QC)
            reload = asyncio.create_task(manager.reload(qc(second_qc_checkpoint)))
            await asyncio.sleep(0.3)
            # New requests are turned away; the one in flight still finishes on the old model.
            assert manager.current is None and loads == ["tiny-qc"]
            assert await old.backend.healthy() and len(await score(old)) == 1
        new = await asyncio.wait_for(reload, 60)
        assert loads == ["tiny-qc", "tiny-qc-v2"] and not await old.backend.healthy()
        assert new.model_for(Task.QC).checkpoint.name == "tiny-qc-v2"
        await manager.close()

    asyncio.run(scenario())


def test_a_drain_that_times_out_closes_the_old_model_anyway(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    async def scenario() -> None:
        manager = replacing_manager(qc(qc_checkpoint), tmp_path=tmp_path, reload_drain_s=0.2)
        await manager.load_initial()
        async with manager.lease() as leased:  # a request that never finishes
            new = await asyncio.wait_for(manager.reload(qc(second_qc_checkpoint)), 60)
            assert not await leased.model_for(Task.QC).backend.healthy()
            assert manager.current is new and new.model_for(Task.QC).checkpoint.name == "tiny-qc-v2"
        await manager.close()

    asyncio.run(scenario())


def test_a_failed_replace_loads_the_previous_model_again(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    loads: list[str] = []

    async def failing(checkpoint, settings) -> Backend:
        loads.append(checkpoint.name)
        if checkpoint.name == "tiny-qc-v2":
            raise RuntimeError("CUDA out of memory while loading")
        return await load_backend(checkpoint, settings)

    async def scenario() -> None:
        manager = replacing_manager(qc(qc_checkpoint), factory=failing, tmp_path=tmp_path)
        await manager.load_initial()
        first = manager.current.model_for(Task.QC)
        before = await score(first)
        with pytest.raises(ApiError) as err:
            await manager.reload(qc(second_qc_checkpoint))
        message = err.value.message
        assert err.value.type is ErrorType.INVALID_CHECKPOINT
        assert "replace reload" in message and "previous model was loaded again" in message
        assert "CUDA out of memory" in message
        assert loads == ["tiny-qc", "tiny-qc-v2", "tiny-qc"] and not await first.backend.healthy()
        restored = manager.current.model_for(Task.QC)
        assert restored is not first and restored.checkpoint.name == "tiny-qc"
        assert await score(restored) == pytest.approx(before, abs=1e-6)
        assert manager.refs == qc(qc_checkpoint) and manager.load_error is None
        text = manager.metrics.render().decode()
        assert metric_value(text, "relevance_model_reloads_total", {"result": "failure"}) == 1
        assert metric_value(text, "relevance_ready") == 1
        assert metric_value(text, "relevance_model_info", {"task": "qc", "model": "tiny-qc"}) == 1
        await manager.close()

    asyncio.run(scenario())


def test_when_the_previous_model_fails_too_nothing_is_served_and_readiness_says_why(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    broken: set[str] = set()

    async def failing(checkpoint, settings) -> Backend:
        if checkpoint.name in broken:
            raise RuntimeError(f"cannot load {checkpoint.name}")
        return await load_backend(checkpoint, settings)

    async def scenario() -> None:
        manager = replacing_manager(qc(qc_checkpoint), factory=failing, tmp_path=tmp_path)
        await manager.load_initial()
        broken.update({"tiny-qc", "tiny-qc-v2"})
        with pytest.raises(ApiError) as err:
            await manager.reload(qc(second_qc_checkpoint))
        assert "failed to load again too (RuntimeError: cannot load tiny-qc)" in err.value.message
        assert "not ready" in err.value.message and "cannot load tiny-qc-v2" in err.value.message
        assert manager.current is None
        with pytest.raises(ApiError) as not_ready:
            async with manager.lease():
                pass
        assert not_ready.value.type is ErrorType.NOT_READY and not_ready.value.headers == {"Retry-After": "3"}
        assert not_ready.value.message.startswith("no model loaded: ")
        assert "failed to load again too" in not_ready.value.message
        text = manager.metrics.render().decode()
        assert metric_value(text, "relevance_ready") == 0
        assert metric_value(text, "relevance_model_info", {"task": "qc"}) == 0

        # Nothing to drain now; a reload that succeeds serves again (an empty one: the previous model).
        broken.clear()
        again = await manager.reload(None)
        assert manager.current is again and again.model_for(Task.QC).checkpoint.name == "tiny-qc"
        assert manager.load_error is None
        await manager.close()

    asyncio.run(scenario())


def test_a_refused_card_is_refused_before_anything_is_drained(qc_checkpoint, tmp_path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(qc_checkpoint, bad)
    card = json.loads((bad / CARD_FILENAME).read_text())
    card["weights_sha256"] = "0" * 64
    (bad / CARD_FILENAME).write_text(json.dumps(card))

    async def scenario() -> None:
        manager = replacing_manager(qc(qc_checkpoint), tmp_path=tmp_path)
        await manager.load_initial()
        before = manager.current
        with pytest.raises(ApiError) as err:
            await manager.reload(qc(bad))
        assert "still serving the previous model" in err.value.message and "sha256" in err.value.message
        assert manager.current is before and await before.model_for(Task.QC).backend.healthy()
        await manager.close()

    asyncio.run(scenario())


def test_replacing_one_tasks_model_keeps_the_others_loaded(
    qc_checkpoint, joint_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    async def scenario() -> None:
        refs = ModelRefs(task_models={Task.QC: str(qc_checkpoint), Task.QI: str(joint_checkpoint)})
        manager = replacing_manager(refs, tmp_path=tmp_path)
        await manager.load_initial()
        old_qc, qi = manager.current.model_for(Task.QC), manager.current.model_for(Task.QI)
        after = await manager.reload(qc(second_qc_checkpoint))
        assert after.model_for(Task.QI) is qi and await qi.backend.healthy()
        assert not await old_qc.backend.healthy()
        assert after.model_for(Task.QC).checkpoint.name == "tiny-qc-v2"
        await manager.close()

    asyncio.run(scenario())


# --- over HTTP ---


class HeldFactory:
    """The real torch backend; the load of the checkpoint in folder `held` waits for `release`, so the test
    can look at the service mid-swap (a tiny model otherwise loads too fast to catch)."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.waiting = threading.Event()
        self.release = threading.Event()

    async def __call__(self, checkpoint, settings) -> Backend:
        if checkpoint.path.name == self.held and not self.release.is_set():
            self.waiting.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return await load_backend(checkpoint, settings)


def test_replace_reload_over_http(qc_checkpoint, second_qc_checkpoint, tmp_path) -> None:
    store = tmp_path / "store"
    shutil.copytree(qc_checkpoint, store / "tiny-qc")
    shutil.copytree(second_qc_checkpoint, store / "tiny-qc-v2")
    shutil.copytree(second_qc_checkpoint, store / "half-copied")
    corrupt_weights(store / "half-copied")
    old_scores = OfflineScorer(qc_checkpoint)(Task.QC, PAIRS)
    new_scores = OfflineScorer(second_qc_checkpoint)(Task.QC, PAIRS)
    factory = HeldFactory("tiny-qc-v2")
    settings = make_settings(model="tiny-qc", models_dir=store, reload_strategy="replace", cache_size=0)

    def scores(response: httpx.Response) -> list[float]:
        assert response.status_code == 200, response.text
        return [r["score"] for r in response.json()["results"]]

    with running(create_app(settings, backend_factory=factory)) as url:
        replies: dict[str, object] = {}

        def call(key: str, fn: Callable[[], object]) -> threading.Thread:
            thread = threading.Thread(target=lambda: replies.__setitem__(key, fn()))
            thread.start()
            return thread

        reload = call(
            "reload", lambda: httpx.post(f"{url}/admin/reload", json={"model": "tiny-qc-v2"}, timeout=60)
        )
        assert factory.waiting.wait(60), "the new model never started loading"
        ready = httpx.get(f"{url}/health/ready", timeout=10)
        assert "replace" in assert_error(ready, 503, "not_ready")["message"]
        assert ready.headers["retry-after"] == "1"
        refused = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=10)
        assert_error(refused, 503, "not_ready")
        assert refused.headers["retry-after"] == "1"
        # The Python client retries the 503 after its Retry-After and gets the new model's scores.
        client = call("client", lambda: RelevanceClient(url, max_retries=30).score_qc(PAIRS))
        threading.Event().wait(0.5)
        factory.release.set()
        reload.join(60)
        client.join(60)
        done = replies["reload"]
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["strategy"] == "replace" and body["generation"] == 2
        assert [m["name"] for m in body["models"]] == ["tiny-qc-v2"]
        assert replies["client"]["model"] == "tiny-qc-v2"
        assert [r["score"] for r in replies["client"]["results"]] == pytest.approx(new_scores, abs=1e-6)
        assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200
        now = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=10)
        assert now.json()["model"] == "tiny-qc-v2" and scores(now) == pytest.approx(new_scores, abs=1e-6)

        # Weights that fail to load: the previous model is loaded again and serves.
        failed = httpx.post(f"{url}/admin/reload", json={"model": "half-copied"}, timeout=60)
        message = assert_error(failed, 400, "invalid_checkpoint")["message"]
        assert "replace reload" in message and "previous model was loaded again" in message
        assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200
        back = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=10)
        assert back.json()["model"] == "tiny-qc-v2" and scores(back) == pytest.approx(new_scores, abs=1e-6)

        # The previous model's own files broken meanwhile: nothing can serve, and the service says so.
        corrupt_weights(store / "tiny-qc-v2")
        lost = httpx.post(f"{url}/admin/reload", json={"model": "half-copied"}, timeout=60)
        assert "failed to load again too" in assert_error(lost, 400, "invalid_checkpoint")["message"]
        ready = httpx.get(f"{url}/health/ready", timeout=10)
        reason = assert_error(ready, 503, "not_ready")["message"]
        assert reason.startswith("no model loaded: ") and "not ready until a reload succeeds" in reason
        assert ready.headers["retry-after"] == "1"
        assert_error(
            httpx.post(f"{url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=10), 503, "not_ready"
        )
        metrics = scrape(url)

        # A reload that succeeds serves again.
        recovered = httpx.post(f"{url}/admin/reload", json={"model": "tiny-qc"}, timeout=60)
        assert recovered.status_code == 200 and recovered.json()["strategy"] == "replace"
        again = httpx.post(f"{url}/v1/relevance/qc", json={"pairs": PAIRS}, timeout=10)
        assert again.json()["model"] == "tiny-qc" and scores(again) == pytest.approx(old_scores, abs=1e-6)

    assert metric_value(metrics, "relevance_ready") == 0
    assert metric_value(metrics, "relevance_model_reloads_total", {"result": "success"}) == 1
    assert metric_value(metrics, "relevance_model_reloads_total", {"result": "failure"}) == 2
    assert metric_value(metrics, "relevance_requests_total", {"task": "qc", "status": "503"}) >= 3


def test_side_by_side_reload_says_so(qc_checkpoint, second_qc_checkpoint, tmp_path) -> None:
    store = tmp_path / "store"
    shutil.copytree(second_qc_checkpoint, store / "tiny-qc-v2")
    settings = make_settings(qc_model=str(qc_checkpoint), models_dir=store)
    with running(create_app(settings)) as url:
        r = httpx.post(f"{url}/admin/reload", json={"qc_model": "tiny-qc-v2"}, timeout=60)
    assert r.status_code == 200 and r.json()["strategy"] == "side_by_side"
