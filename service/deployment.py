"""Serving checkpoints per task, and swapping them (hot reload) by one of two strategies.

A served model is a checkpoint, its pair encoder and the backend that scores the encoded pairs
(`ServedModel`; tokenization stays outside the backend, see `service.encoding`). A `Deployment` is one
generation of served models (task -> model). Requests lease the current deployment for their whole life.

A reload first opens and verifies the checkpoints (`service.plan`): a bad card or weights hash is refused
while the current generation keeps serving. Then, by `Settings.resolved_reload_strategy`:
- `side_by_side`: the new generation loads and warms beside the old one, is swapped in for new requests,
  and the old backends close when their last lease is returned (no downtime; both in memory meanwhile). A
  load that fails leaves the old generation serving.
- `replace`: nothing is served (`current` is None: 503 with Retry-After) while the old generation drains,
  its models are closed and their memory released, and the new one loads. A load that fails loads the old
  checkpoints again; if that fails too, nothing is served and the readiness body says why.
Either way `current` is a whole warmed generation or None, never a mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from models import Checkpoint, CheckpointError, ModelStore, PairEncoder, PairInput, Task
from service.backends import Backend, BackendFactory
from service.backends.base import runtime_of
from service.encoding import load_encoder
from service.errors import ApiError, ErrorType, not_ready
from service.metrics import Metrics
from service.plan import ModelRefs, plan_checkpoints
from service.settings import ReloadStrategy, Settings
from service.targets import warm_targets
from service.translation import ServedTranslation, load_translation

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ServedModel:
    """One loaded checkpoint: the encoder turning its pairs into token ids, the backend scoring them."""

    checkpoint: Checkpoint
    encoder: PairEncoder
    backend: Backend
    translation: ServedTranslation | None = None  # fills a pair's missing query_en (service.translation)


@dataclass(eq=False)
class Deployment:
    generation: int
    models: dict[Task, ServedModel]
    leases: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def unique(self) -> list[ServedModel]:
        """Each served model once (a joint model serves several tasks)."""
        return list({id(m): m for m in self.models.values()}.values())

    def unique_backends(self) -> list[Backend]:
        return [m.backend for m in self.unique()]

    def model_for(self, task: Task) -> ServedModel:
        served = self.models.get(task)
        if served is None:
            names = ", ".join(t.value for t in self.models) or "none"
            raise ApiError(
                ErrorType.UNKNOWN_TASK,
                f"task {task.value!r} is not served by this deployment (served: {names})",
                param="task",
            )
        return served


class ReplaceFailed(Exception):
    """A replace reload's new models failed to load; `state` says what serves after the attempt to load the
    previous models again."""

    def __init__(self, cause: Exception, state: str) -> None:
        super().__init__(describe_failure(cause))
        self.cause = cause
        self.state = state


def describe_failure(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, CheckpointError | ValueError) else f"{type(exc).__name__}: {exc}"


def release_memory() -> None:
    """Give closed models' memory back before the next load. gc frees what reference cycles still hold; on a
    GPU torch's caching allocator keeps freed blocks for reuse, and a vLLM engine sizing itself from free
    GPU memory would count them as taken."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


async def close_models(models: Iterable[ServedModel]) -> None:
    for served in models:
        try:
            await served.backend.close()
        except Exception:
            log.exception("closing a model failed", extra={"model": served.checkpoint.name})


def _same(served: ServedModel, ckpt: Checkpoint) -> bool:
    """Whether `served` was loaded from exactly `ckpt` (same path, card and weights): no need to load it."""
    return served.checkpoint.path.resolve() == ckpt.path.resolve() and served.checkpoint.card == ckpt.card


class ModelManager:
    def __init__(
        self,
        *,
        refs: ModelRefs,
        store: ModelStore,
        factory: BackendFactory,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.refs = refs
        self.store = store
        self.factory = factory
        self.settings = settings
        self.metrics = metrics
        # Resolved once: the strategies never mix in one process, so a generation retired side by side is
        # never closed under a replace that keeps one of its models.
        self.strategy: ReloadStrategy = settings.resolved_reload_strategy
        self.current: Deployment | None = None
        self.load_error: str | None = None
        self._replacing = False
        self._generation = 0
        self._lock = asyncio.Lock()
        self._closers: set[asyncio.Task[None]] = set()

    def not_ready(self) -> ApiError:
        """Why nothing is served: loading, a replace reload under way, or the last load failed."""
        if self._replacing:
            reason = (
                "reloading (replace strategy): the previous model is closed and the new one is loading; "
                "retry after the Retry-After seconds"
            )
        elif self.load_error:
            reason = f"no model loaded: {self.load_error}"
        else:
            reason = "models are still loading"
        return not_ready(reason, retry_after_s=self.settings.retry_after_s)

    async def load_initial(self) -> None:
        try:
            await self.reload(None, initial=True)
        except ApiError as exc:
            self.load_error = exc.message
            log.error("initial model load failed", extra={"error": exc.message})

    async def reload(self, refs: ModelRefs | None, *, initial: bool = False) -> Deployment:
        """Load, warm and swap in a new generation by `self.strategy` (module docstring); on failure raise
        an `ApiError` saying what serves now.

        `refs` naming only some tasks' models replaces those and keeps the others; no refs re-reads the
        active ones (new weights at the same path, or the newest in the store)."""
        async with self._lock:
            refs = self._merge(refs)
            old = self.current
            try:
                plan = await asyncio.to_thread(plan_checkpoints, refs, self.store)
                if old is not None and self.strategy == "replace":
                    deployment = await self._replace(plan, old)
                else:
                    deployment = await self._build(plan, old.unique() if old else [])
            except Exception as exc:
                raise self._refused(exc, initial=initial, serving=old is not None) from exc
            self._publish(deployment, refs, counted=not initial)
            if old is not None and self.strategy == "side_by_side":
                self._retire(old)
            return deployment

    def _refused(self, exc: Exception, *, initial: bool, serving: bool) -> ApiError:
        """The error a failed reload answers with (counted and logged), saying what serves now."""
        message = describe_failure(exc.cause if isinstance(exc, ReplaceFailed) else exc)
        if isinstance(exc, ReplaceFailed):
            state = exc.state
        elif serving:
            state = "still serving the previous model"
        else:
            state = "no model is loaded and the service is not ready until a reload succeeds"
        if not initial:
            self.metrics.model_reloads.labels(result="failure").inc()
            message = f"checkpoint refused ({self.strategy} reload); {state}. Cause: {message}"
            if self.current is None:
                self.load_error = message
                self.metrics.set_models([])
        log.error("checkpoint refused", extra={"error": message, "strategy": self.strategy})
        return ApiError(ErrorType.INVALID_CHECKPOINT, message, param="model")

    def _publish(self, deployment: Deployment, refs: ModelRefs, *, counted: bool) -> None:
        self.current, self.refs, self.load_error = deployment, refs, None
        if counted:
            self.metrics.model_reloads.labels(result="success").inc()
        self.metrics.ready.set(1)  # a published generation is loaded and warmed
        self.metrics.set_models(
            (task.value, m.checkpoint.name, m.backend.name) for task, m in deployment.models.items()
        )
        self.metrics.set_training_rates(
            (task.value, m.checkpoint.name, m.checkpoint.card.metrics.get(task))
            for task, m in deployment.models.items()
        )
        served = {task.value: m.checkpoint.name for task, m in deployment.models.items()}
        log.info(
            "serving models",
            extra={"generation": deployment.generation, "models": served, "strategy": self.strategy},
        )

    def _merge(self, refs: ModelRefs | None) -> ModelRefs:
        if refs is None or refs.empty:
            return self.refs
        if refs.model or self.current is None:
            return refs
        active = {task: str(m.checkpoint.path) for task, m in self.current.models.items()}
        return ModelRefs(task_models={**active, **{t: ref for t, ref in refs.task_models.items() if ref}})

    async def _replace(self, plan: dict[Task, Checkpoint], old: Deployment) -> Deployment:
        """Stop serving, drain `old`, close its models `plan` does not keep and release their memory, then
        load `plan`; a failed load raises `ReplaceFailed` after trying to load `old`'s checkpoints again."""
        keep = [m for m in old.unique() if any(_same(m, ckpt) for ckpt in plan.values())]
        self.current, self._replacing = None, True
        self.metrics.ready.set(0)
        log.info("replace reload: draining", extra={"generation": old.generation, "leases": old.leases})
        try:
            await self._drain(old)
            await close_models(m for m in old.unique() if not any(m is k for k in keep))
            release_memory()
            try:
                return await self._build(plan, keep)
            except Exception as exc:
                release_memory()
                raise await self._restore(old, keep, exc) from exc
        except asyncio.CancelledError:
            self.load_error = "a replace reload was cancelled before its models were loaded"
            raise
        finally:
            self._replacing = False

    async def _drain(self, old: Deployment) -> None:
        """Wait for the requests in flight on `old` (each holds a lease) to finish, at most reload_drain_s."""
        if old.leases == 0:
            return
        try:
            await asyncio.wait_for(old._idle.wait(), self.settings.reload_drain_s)
        except TimeoutError:
            log.warning(
                "drain timed out: closing the old models under requests still in flight",
                extra={"leases": old.leases, "timeout_s": self.settings.reload_drain_s},
            )

    async def _restore(self, old: Deployment, keep: list[ServedModel], error: Exception) -> ReplaceFailed:
        """Load `old`'s checkpoints again after a failed replace (opened and verified afresh: the files may
        have changed since they were loaded) and publish them; the outcome as the error to raise."""
        log.error(
            "replace reload failed; loading the previous models again",
            extra={"error": describe_failure(error)},
        )
        refs = ModelRefs(task_models={task: str(m.checkpoint.path) for task, m in old.models.items()})
        try:
            plan = await asyncio.to_thread(plan_checkpoints, refs, self.store)
            restored = await self._build(plan, keep)
        except Exception as again:
            await close_models(keep)  # nothing serves them now: a half-loaded set would only hold memory
            release_memory()
            log.error("the previous models failed to load again", extra={"error": describe_failure(again)})
            return ReplaceFailed(
                error,
                f"the previous model failed to load again too ({describe_failure(again)}), so no model is "
                "loaded and the service is not ready until a reload succeeds",
            )
        self._publish(restored, self.refs, counted=False)
        return ReplaceFailed(error, "the previous model was loaded again and serves")

    async def _build(self, plan: dict[Task, Checkpoint], running: list[ServedModel]) -> Deployment:
        """A warmed generation serving `plan`; a model in `running` loaded from the identical checkpoint is
        reused, not loaded again. Whatever this loaded is closed again if any step fails."""
        loaded: dict[Path, ServedModel] = {}
        fresh: list[ServedModel] = []
        try:
            for ckpt in plan.values():
                key = ckpt.path.resolve()
                if key in loaded:
                    continue
                same = next((m for m in running if _same(m, ckpt)), None)
                if same is not None:
                    loaded[key] = same
                    continue
                encoder = await asyncio.to_thread(load_encoder, ckpt)
                translation = await asyncio.to_thread(load_translation, ckpt, self.settings)
                backend = await self.factory(ckpt, self.settings)
                loaded[key] = ServedModel(ckpt, encoder, backend, translation)
                fresh.append(loaded[key])
            models = {task: loaded[ckpt.path.resolve()] for task, ckpt in plan.items()}
            for task, served in models.items():
                if any(served is f for f in fresh):
                    await self._warm_up(task, served)
        except BaseException:
            for served in fresh:
                with contextlib.suppress(Exception):
                    await served.backend.close()
            raise
        self._generation += 1
        return Deployment(generation=self._generation, models=models)

    async def _warm_up(self, task: Task, served: ServedModel) -> None:
        """Score the task's warm-up pair twice, straight on the backend (not through the batcher); then
        embed the task's target catalogue, if one is set (`service.targets`)."""
        query, target = task.spec.warmup
        encoded = served.encoder.encode_batch([PairInput(task=task, query=query, target=target)] * 2)
        scores = await served.backend.score(encoded)
        if len(scores) != 2 or not all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores):
            raise ValueError(f"warm-up batch of {served.checkpoint.name} gave invalid scores {scores}")
        if task in self.settings.warm_targets:
            await warm_targets(
                task,
                backend=served.backend,
                encoder=served.encoder,
                kind=served.checkpoint.card.kind,
                path=self.settings.warm_targets[task],
            )

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[Deployment]:
        """The current deployment, kept open (its backends not closed) until the lease is returned."""
        deployment = self.current
        if deployment is None:
            raise self.not_ready()
        deployment.leases += 1
        deployment._idle.clear()
        try:
            yield deployment
        finally:
            deployment.leases -= 1
            if deployment.leases == 0:
                deployment._idle.set()

    def _retire(self, old: Deployment) -> None:
        if old.leases == 0:
            old._idle.set()
        task = asyncio.create_task(self._close_when_idle(old), name=f"retire-gen-{old.generation}")
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def reload_in_background(self) -> None:
        """An empty reload as a task (SIGHUP); a refused checkpoint is logged (`reload` says what serves)."""

        async def reload() -> None:
            with contextlib.suppress(ApiError):
                await self.reload(None)

        task = asyncio.create_task(reload(), name="background-reload")
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def _close_when_idle(self, old: Deployment) -> None:
        await old._idle.wait()
        current = set(map(id, self.current.unique_backends())) if self.current else set()
        for backend in old.unique_backends():
            if id(backend) not in current:
                await backend.close()
        log.info("closed retired models", extra={"generation": old.generation})

    def describe(self) -> list[dict]:
        if self.current is None:
            return []
        out = []
        for served in self.current.unique():
            out.append(
                {
                    "tasks": [t.value for t, m in self.current.models.items() if m is served],
                    "backend": served.backend.name,
                    "runtime": runtime_of(served.backend),
                    "path": str(served.checkpoint.path),
                    "card": served.checkpoint.card,
                }
            )
        return out

    async def close(self) -> None:
        for task in list(self._closers):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
        if self.current is not None:
            for backend in self.current.unique_backends():
                with contextlib.suppress(Exception):
                    await backend.close()
            self.current = None
