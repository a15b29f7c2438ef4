"""Which checkpoints serve which task: the refs a deployment is asked for (`ModelRefs`) and the checkpoints
they name, opened and verified (`plan_checkpoints`). Pure planning, nothing is loaded here: the CLI checks
its settings with it before start-up, and `service.deployment` loads what it plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from models import (
    CARD_FILENAME,
    Checkpoint,
    CheckpointError,
    ModelStore,
    Task,
    open_checkpoint,
    registered_tasks,
)
from service.settings import Settings


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
