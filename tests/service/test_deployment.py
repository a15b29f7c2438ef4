"""Unit tests of the deployment manager (`service.deployment.ModelManager`), without a server: the real
torch backend on the tiny checkpoints; a fake backend only where a failure is injected."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from service_helpers import make_settings, metric_value

from models import ModelStore, PairInput, Task
from service.backends import Backend, load_backend
from service.deployment import ModelManager, ModelRefs, ServedModel
from service.errors import ApiError, ErrorType
from service.metrics import Metrics

Factory = Callable[..., Awaitable[Backend]]


def manager_for(refs: ModelRefs, *, factory: Factory = load_backend, tmp_path: Path) -> ModelManager:
    return ModelManager(
        refs=refs,
        store=ModelStore(tmp_path / "store"),
        factory=factory,
        settings=make_settings(retry_after_s=3),
        metrics=Metrics(),
    )


async def score(served: ServedModel, task: Task) -> list[float]:
    encoded = served.encoder.encode_batch([PairInput(task=task, query="bag", target="luggage & bags")])
    return await served.backend.score(encoded)


async def closed(backend: Backend, timeout: float = 10.0) -> bool:
    """True once `backend` reports itself closed (retired generations close in a background task)."""
    for _ in range(int(timeout / 0.01)):
        if not await backend.healthy():
            return True
        await asyncio.sleep(0.01)
    return False


def test_nothing_is_leased_before_the_first_load(qc_checkpoint, tmp_path) -> None:
    async def scenario() -> None:
        manager = manager_for(ModelRefs(task_models={Task.QC: str(qc_checkpoint)}), tmp_path=tmp_path)
        with pytest.raises(ApiError) as err:
            async with manager.lease():
                pass
        assert err.value.type is ErrorType.NOT_READY and err.value.headers == {"Retry-After": "3"}
        assert "still loading" in err.value.message
        await manager.close()

    asyncio.run(scenario())


def test_reload_swaps_generations_and_closes_the_old_one(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    async def scenario() -> None:
        manager = manager_for(ModelRefs(task_models={Task.QC: str(qc_checkpoint)}), tmp_path=tmp_path)
        await manager.load_initial()
        first = manager.current
        assert first is not None and first.generation == 1
        old = first.model_for(Task.QC)
        assert old.checkpoint.name == "tiny-qc" and old.backend.name == "torch"

        second = await manager.reload(ModelRefs(task_models={Task.QC: str(second_qc_checkpoint)}))
        assert manager.current is second and second.generation == 2
        new = second.model_for(Task.QC)
        assert new.checkpoint.name == "tiny-qc-v2" and new is not old
        assert await closed(old.backend)  # no lease held: the retired generation closes at once
        assert all(0.0 <= s <= 1.0 for s in await score(new, Task.QC))
        assert manager.describe()[0]["card"].name == "tiny-qc-v2"
        assert (
            metric_value(
                manager.metrics.render().decode(), "relevance_model_reloads_total", {"result": "success"}
            )
            == 1
        )
        await manager.close()
        assert await closed(new.backend)

    asyncio.run(scenario())


def test_a_failing_load_keeps_the_old_generation_serving(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    async def failing(checkpoint, settings) -> Backend:
        if checkpoint.name == "tiny-qc-v2":
            raise RuntimeError("out of memory while loading")
        return await load_backend(checkpoint, settings)

    async def scenario() -> None:
        manager = manager_for(
            ModelRefs(task_models={Task.QC: str(qc_checkpoint)}), factory=failing, tmp_path=tmp_path
        )
        await manager.load_initial()
        before = manager.current
        with pytest.raises(ApiError) as err:
            await manager.reload(ModelRefs(task_models={Task.QC: str(second_qc_checkpoint)}))
        assert err.value.type is ErrorType.INVALID_CHECKPOINT
        assert "previous model" in err.value.message and "out of memory" in err.value.message
        assert manager.current is before and before.generation == 1
        served = before.model_for(Task.QC)
        assert await served.backend.healthy() and len(await score(served, Task.QC)) == 1
        # The refused refs are not remembered: an empty reload re-reads what is served.
        assert manager.refs.task_models == {Task.QC: str(qc_checkpoint)}
        text = manager.metrics.render().decode()
        assert metric_value(text, "relevance_model_reloads_total", {"result": "failure"}) == 1
        await manager.close()

    asyncio.run(scenario())


class NanBackend:
    """A fake backend whose scores are not probabilities: its warm-up must refuse it, and close it."""

    name = "fake"

    def __init__(self, checkpoint) -> None:
        self.checkpoint = checkpoint
        self.closed = False

    @property
    def limits(self):
        raise AssertionError("the warm-up does not go through the batcher")

    async def score(self, batch) -> list[float]:
        return [math.nan] * len(batch)

    async def healthy(self) -> bool:
        return not self.closed

    async def close(self) -> None:
        self.closed = True


def test_a_model_failing_its_warm_up_is_refused_and_closed(qc_checkpoint, tmp_path) -> None:
    fakes: list[NanBackend] = []

    async def factory(checkpoint, settings) -> NanBackend:
        fakes.append(NanBackend(checkpoint))
        return fakes[-1]

    async def scenario() -> None:
        manager = manager_for(
            ModelRefs(task_models={Task.QC: str(qc_checkpoint)}), factory=factory, tmp_path=tmp_path
        )
        await manager.load_initial()  # the initial load failing is logged, not raised
        assert manager.current is None and "warm-up" in (manager.load_error or "")
        assert fakes and all(f.closed for f in fakes)
        with pytest.raises(ApiError) as err:
            async with manager.lease():
                pass
        assert err.value.type is ErrorType.NOT_READY and "no model loaded" in err.value.message
        await manager.close()

    asyncio.run(scenario())


def test_a_lease_keeps_a_retired_generation_open_until_returned(
    qc_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    async def scenario() -> None:
        manager = manager_for(ModelRefs(task_models={Task.QC: str(qc_checkpoint)}), tmp_path=tmp_path)
        await manager.load_initial()
        async with manager.lease() as leased:
            old = leased.model_for(Task.QC)
            await manager.reload(ModelRefs(task_models={Task.QC: str(second_qc_checkpoint)}))
            assert manager.current is not leased and manager.current.generation == 2
            await asyncio.sleep(0.1)
            # The request that leased generation 1 still finishes on the model it started with.
            assert await old.backend.healthy() and len(await score(old, Task.QC)) == 1
            assert leased.leases == 1
        assert leased.leases == 0
        assert await closed(old.backend)
        assert await manager.current.model_for(Task.QC).backend.healthy()  # the new one is untouched
        await manager.close()

    asyncio.run(scenario())


def test_per_task_refs_merge_and_unchanged_models_are_kept(
    qc_checkpoint, joint_checkpoint, second_qc_checkpoint, tmp_path
) -> None:
    loads: list[str] = []

    async def counting(checkpoint, settings) -> Backend:
        loads.append(checkpoint.name)
        return await load_backend(checkpoint, settings)

    async def scenario() -> None:
        refs = ModelRefs(task_models={Task.QC: str(qc_checkpoint), Task.QI: str(joint_checkpoint)})
        manager = manager_for(refs, factory=counting, tmp_path=tmp_path)
        await manager.load_initial()
        qi = manager.current.model_for(Task.QI)
        assert loads == ["tiny-qc", "tiny-joint"]

        # Naming one task's model replaces that one and keeps the other task's (not loaded again).
        after = await manager.reload(ModelRefs(task_models={Task.QC: str(second_qc_checkpoint)}))
        assert after.model_for(Task.QC).checkpoint.name == "tiny-qc-v2"
        assert after.model_for(Task.QI) is qi and loads == ["tiny-qc", "tiny-joint", "tiny-qc-v2"]
        assert manager.refs.task_models == {
            Task.QC: str(second_qc_checkpoint),
            Task.QI: str(joint_checkpoint),
        }

        # An empty reload re-reads the active checkpoints: a new generation, nothing loaded again.
        again = await manager.reload(None)
        assert again.generation == 3 and loads == ["tiny-qc", "tiny-joint", "tiny-qc-v2"]
        assert again.model_for(Task.QI) is qi and await qi.backend.healthy()

        # One joint model serves every task it lists, as one served model; the QI one is kept.
        joint = await manager.reload(ModelRefs(model=str(joint_checkpoint)))
        assert len(joint.unique()) == 1 and joint.model_for(Task.QC) is joint.model_for(Task.QI) is qi
        assert loads == ["tiny-qc", "tiny-joint", "tiny-qc-v2"]
        assert [m["tasks"] for m in manager.describe()] == [["qc", "qi"]]
        await manager.close()

    asyncio.run(scenario())


def test_a_task_the_deployment_does_not_serve_is_unknown(qc_checkpoint, tmp_path) -> None:
    async def scenario() -> None:
        manager = manager_for(ModelRefs(task_models={Task.QC: str(qc_checkpoint)}), tmp_path=tmp_path)
        await manager.load_initial()
        async with manager.lease() as deployment:
            with pytest.raises(ApiError) as err:
                deployment.model_for(Task.QI)
        assert err.value.type is ErrorType.UNKNOWN_TASK and "served: qc" in err.value.message
        await manager.close()

    asyncio.run(scenario())
