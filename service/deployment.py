"""Which checkpoints serve which task, and swapping them without downtime.

A served model is a checkpoint, its pair encoder and the backend that scores the encoded pairs
(`ServedModel`; tokenization stays outside the backend, see `service.encoding`). A `Deployment` is one
generation of served models (task -> model). Requests lease the current deployment for their whole life; a
reload loads and warms the new generation beside the old one, swaps it in for new requests, and closes the
old backends only when their last lease is returned, so requests in flight finish on the model they started
with. A checkpoint that fails to open, load or warm up is refused and the current generation keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from models import (
    CARD_FILENAME,
    Checkpoint,
    CheckpointError,
    ModelStore,
    PairEncoder,
    PairInput,
    Task,
    open_checkpoint,
    registered_tasks,
)
from service.backends import Backend, BackendFactory
from service.encoding import load_encoder
from service.errors import ApiError, ErrorType, not_ready
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRefs:
    """What to serve: one joint model, a model per task, or (neither) the newest in the store."""

    model: str | None = None
    task_models: Mapping[Task, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.model or any(self.task_models.values()))

    @classmethod
    def of(cls, settings: Settings) -> ModelRefs:
        return cls(model=settings.model, task_models=dict(settings.task_models))


def plan_checkpoints(
    refs: ModelRefs, store: ModelStore, *, verify_weights: bool = True
) -> dict[Task, Checkpoint]:
    """Task -> checkpoint for `refs`; raises `CheckpointError` saying what is wrong or missing."""
    if refs.model:
        ckpt = open_checkpoint(store.resolve(refs.model), verify_weights=verify_weights)
        return dict.fromkeys(ckpt.card.tasks, ckpt)
    plan: dict[Task, Checkpoint] = {}
    for task in registered_tasks():
        if ref := refs.task_models.get(task):
            plan[task] = open_checkpoint(store.resolve(ref), task=task, verify_weights=verify_weights)
    if plan:
        # The same directory named for both tasks is loaded once.
        by_path = {ck.path.resolve(): ck for ck in plan.values()}
        return {task: by_path[ck.path.resolve()] for task, ck in plan.items()}
    valid = [e for e in store.list() if e.checkpoint is not None]
    valid.sort(key=_arrival_time, reverse=True)
    for task in registered_tasks():
        newest = next((e.checkpoint for e in valid if e.checkpoint.serves(task)), None)
        if newest is not None:
            plan[task] = newest
    if not plan:
        problems = [f"{e.name}: {e.error}" for e in store.list() if e.error]
        detail = f" (invalid: {'; '.join(problems)})" if problems else ""
        raise CheckpointError(
            f"no servable checkpoint under {store.root}{detail}; train one (`python -m training run`) or set "
            "RELEVANCE_MODEL / RELEVANCE_TASK_MODELS (or RELEVANCE_<TASK>_MODEL)"
        )
    if verify_weights:
        opened = {p: open_checkpoint(p, verify_weights=True) for p in {ck.path for ck in plan.values()}}
        plan = {task: opened[ck.path] for task, ck in plan.items()}
    return plan


def _arrival_time(entry) -> float:
    """When a checkpoint landed in the store: a copy (`cp -a`) keeps old mtimes, but ctime moves on
    copy and on the atomic rename that publishes a checkpoint."""
    stats = [entry.path.stat(), (entry.path / CARD_FILENAME).stat()]
    return max(max(st.st_mtime, st.st_ctime) for st in stats)


@dataclass(frozen=True, eq=False)
class ServedModel:
    """One loaded checkpoint: the encoder turning its pairs into token ids, the backend scoring them."""

    checkpoint: Checkpoint
    encoder: PairEncoder
    backend: Backend


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
        self.current: Deployment | None = None
        self.load_error: str | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._closers: set[asyncio.Task[None]] = set()

    def not_ready(self) -> ApiError:
        """Why nothing is served yet: still loading, or the initial load failed."""
        reason = f"no model loaded: {self.load_error}" if self.load_error else "models are still loading"
        return not_ready(reason, retry_after_s=self.settings.retry_after_s)

    async def load_initial(self) -> None:
        try:
            await self.reload(None, initial=True)
        except ApiError as exc:
            self.load_error = exc.message
            log.error("initial model load failed", extra={"error": exc.message})

    async def reload(self, refs: ModelRefs | None, *, initial: bool = False) -> Deployment:
        """Load, warm and swap in a new generation; on any failure keep the current one and raise.

        `refs` naming only some tasks' models replaces those and keeps the others; no refs re-reads the
        active ones (new weights at the same path, or the newest in the store)."""
        async with self._lock:
            refs = self._merge(refs)
            try:
                deployment = await self._load(refs)
            except Exception as exc:
                if not initial:
                    self.metrics.model_reloads.labels(result="failure").inc()
                message = (
                    str(exc)
                    if isinstance(exc, CheckpointError | ValueError)
                    else f"{type(exc).__name__}: {exc}"
                )
                log.error("checkpoint refused", extra={"error": message})
                raise ApiError(
                    ErrorType.INVALID_CHECKPOINT,
                    f"checkpoint refused, still serving the previous model: {message}"
                    if not initial
                    else message,
                    param="model",
                ) from exc
            old, self.current = self.current, deployment
            self.refs = refs
            self.load_error = None
            if not initial:
                self.metrics.model_reloads.labels(result="success").inc()
            self.metrics.set_models(
                (task.value, m.checkpoint.name, m.backend.name) for task, m in deployment.models.items()
            )
            self.metrics.set_training_rates(
                (task.value, m.checkpoint.name, m.checkpoint.card.metrics.get(task))
                for task, m in deployment.models.items()
            )
            served = {task.value: m.checkpoint.name for task, m in deployment.models.items()}
            log.info("serving models", extra={"generation": deployment.generation, "models": served})
            if old is not None:
                self._retire(old)
            return deployment

    def _merge(self, refs: ModelRefs | None) -> ModelRefs:
        if refs is None or refs.empty:
            return self.refs
        if refs.model or self.current is None:
            return refs
        active = {task: str(m.checkpoint.path) for task, m in self.current.models.items()}
        return ModelRefs(task_models={**active, **{t: ref for t, ref in refs.task_models.items() if ref}})

    async def _load(self, refs: ModelRefs) -> Deployment:
        plan = await asyncio.to_thread(plan_checkpoints, refs, self.store)
        # A model already serving the identical checkpoint (same path, card and weights) is kept.
        running = {m.checkpoint.path.resolve(): m for m in (self.current.unique() if self.current else [])}
        loaded: dict[Path, ServedModel] = {}
        fresh: list[ServedModel] = []
        try:
            for ckpt in plan.values():
                key = ckpt.path.resolve()
                if key in loaded:
                    continue
                same = running.get(key)
                if same is not None and same.checkpoint.card == ckpt.card:
                    loaded[key] = same
                    continue
                encoder = await asyncio.to_thread(load_encoder, ckpt)
                loaded[key] = ServedModel(ckpt, encoder, await self.factory(ckpt, self.settings))
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

    @staticmethod
    async def _warm_up(task: Task, served: ServedModel) -> None:
        """Score the task's warm-up pair twice, straight on the backend (not through the batcher)."""
        query, target = task.spec.warmup
        encoded = served.encoder.encode_batch([PairInput(task=task, query=query, target=target)] * 2)
        scores = await served.backend.score(encoded)
        if len(scores) != 2 or not all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores):
            raise ValueError(f"warm-up batch of {served.checkpoint.name} gave invalid scores {scores}")

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
        """An empty reload as a task (SIGHUP); a refused checkpoint is logged, the old one keeps serving."""

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
