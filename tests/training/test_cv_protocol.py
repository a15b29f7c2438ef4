"""CV that cannot flatter itself (issue 14): no held-out query reaches a fold model through the other task
(cross-task pre-training or a joint model's other task), no step is picked on held-out rows, the final
model trains the fold models' schedule and the card says how its threshold was obtained.

Fine-tuning, merging and publishing are replaced by recorders: these tests check which rows each model
is given, not what it learns (the end-to-end runs are in test_pipeline.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from toydata import toy_examples

from models import Task
from models.tasks import normalise_query
from training import pipeline
from training.config import RunConfig
from training.data import Example, load_examples
from training.data_write import write_examples
from training.finetune import FinetuneResult
from training.splits import drop_held_out_queries

N = 96  # rows per task: enough for 3 folds of QC's strata (language, top category, label)


def shared_query_data() -> dict[Task, list[Example]]:
    """QC and QI rows over the same six queries, plus QI rows of queries QC never asks (so a fold's
    pre-training keeps something once the shared queries of its held-out fold are dropped)."""
    qi = [
        dataclasses.replace(e, query=f"{e.query} model {i}") if i % 2 else e
        for i, e in enumerate(toy_examples(Task.QI, n=N))
    ]
    return {Task.QC: toy_examples(Task.QC, n=N), Task.QI: qi}


def queries(rows: list[Example]) -> set[str]:
    return {normalise_query(e.query) for e in rows}


def test_drop_held_out_queries_drops_the_other_tasks_rows_of_held_out_queries() -> None:
    data = shared_query_data()
    held = [e for e in data[Task.QC] if e.query == "handbags"]
    rows = data[Task.QC] + data[Task.QI]
    kept = drop_held_out_queries(rows, held)
    # Every QI row asking a held-out QC query goes (whatever its case or spacing), nothing else does: QC's
    # own rows of that query are its folds' business (QC groups by category).
    assert [e for e in rows if e not in kept] == [
        e for e in data[Task.QI] if normalise_query(e.query) == "handbags"
    ]
    shouted = [dataclasses.replace(e, query="  HANDBAGS ") for e in held]
    assert drop_held_out_queries(rows, shouted) == kept
    assert drop_held_out_queries(rows, []) == rows


class Recorder:
    """Stands in for `finetune`, `export_merged` and `merge_to_checkpoint`; keeps what each was given."""

    def __init__(self) -> None:
        self.trainings: dict[str, dict[str, Any]] = {}  # output dir name -> call
        self.published: list[dict[str, Any]] = []

    def finetune(self, *, train, eval, config, output_dir, init_from=None, resume=False) -> FinetuneResult:
        steps = config.max_steps or 7
        self.trainings[Path(output_dir).name] = {
            "train": train,
            "eval": eval,
            "config": config,
            "init_from": init_from,
        }
        rng = np.random.default_rng(len(self.trainings))
        scores = rng.random(len(eval)) if eval else None
        return FinetuneResult(model_dir=Path(output_dir) / "final", total_steps=steps, eval_scores=scores)

    def export_merged(self, *, model_dir: Path, dest: Path) -> Path:
        return dest

    def merge_to_checkpoint(self, **kwargs: Any) -> Path:
        self.published.append(kwargs)
        return kwargs["store"].root / kwargs["name"]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    for module in ("training.cv", "training.pipeline"):
        monkeypatch.setattr(f"{module}.finetune", rec.finetune)
    monkeypatch.setattr("training.pipeline.export_merged", rec.export_merged)
    monkeypatch.setattr("training.pipeline.merge_to_checkpoint", rec.merge_to_checkpoint)
    return rec


def make_config(tmp_path: Path, **fields: Any) -> RunConfig:
    files = {}
    for task, rows in shared_query_data().items():
        files[task.value] = tmp_path / f"{task.value}.jsonl"
        write_examples(files[task.value], rows)
    tasks = fields.pop("tasks", ["qc"])
    doc = {
        "name": "protocol",
        "tasks": tasks,
        "data": {t: str(files[t]) for t in tasks},
        "cv": {"folds": 3},
        "train": {"base_model": "unused", "max_length": 32, "max_steps": 6},
        "models_dir": str(tmp_path / "models"),
        "work_dir": str(tmp_path / "work"),
        **fields,
    }
    if doc.pop("pretrain", False):
        doc["pretrain_data"] = str(files["qi"])
    return RunConfig.model_validate(doc)


def test_cross_task_pretraining_never_sees_a_held_out_query(recorder: Recorder, tmp_path: Path) -> None:
    config = make_config(tmp_path, pretrain=True)
    pipeline.run(config)
    qi_rows = load_examples(config.pretrain_data, task=Task.QI)[0]  # as read (repeated pairs merged)
    for k in range(3):
        fold = recorder.trainings[f"fold-{k}"]
        pre = recorder.trainings[f"pretrain-fold{k}"]
        held = queries(fold["eval"])
        assert held and not queries(pre["train"]) & held  # the rule
        assert len(pre["train"]) < len(qi_rows)  # ...and it bit: the data share queries
        assert {e.task for e in pre["train"]} == {Task.QI}
        assert fold["init_from"] == config.work_dir / f"pretrain-fold{k}" / "merged"
    # The final model has no held-out rows: its pre-training sees every QI row.
    assert recorder.trainings["pretrain"]["train"] == qi_rows
    assert recorder.trainings["final"]["init_from"] == config.work_dir / "pretrain" / "merged"


def test_a_resumed_run_retrains_only_what_its_pretraining_changed(recorder: Recorder, tmp_path: Path) -> None:
    config = make_config(tmp_path, pretrain=True)
    pipeline.run(config)
    recorder.trainings.clear()
    pipeline.run(config)  # finished folds are not retrained, nor their pre-training run again
    assert sorted(recorder.trainings) == ["final", "pretrain"]  # the final model's files were not kept
    recorder.trainings.clear()
    # Another pre-training keeps its folder, but is another starting model: every fold trains again.
    changed = config.model_copy(update={"pretrain_overrides": {"learning_rate": 1e-3}})
    pipeline.run(changed)
    retrained = {f"fold-{k}" for k in range(3)} | {f"pretrain-fold{k}" for k in range(3)}
    assert retrained <= set(recorder.trainings)


def test_a_joint_fold_holds_out_both_tasks_rows_of_its_queries(recorder: Recorder, tmp_path: Path) -> None:
    config = make_config(tmp_path, tasks=["qc", "qi"])
    pipeline.run(config)
    loaded = sum(len(load_examples(path, task=task)[0]) for task, path in config.data.items())
    dropped = 0
    for k in range(3):
        fold = recorder.trainings[f"fold-{k}"]
        train, held = fold["train"], fold["eval"]
        for task in (Task.QC, Task.QI):
            held_other = queries([e for e in held if e.task is not task])
            assert not queries([e for e in train if e.task is task]) & held_other
        dropped += loaded - len(held) - len(train)
    assert dropped > 0  # the data share queries, so the rule had rows to drop


def test_no_best_step_is_loaded_and_the_final_model_trains_the_fold_schedule(
    recorder: Recorder, tmp_path: Path
) -> None:
    from training.finetune import training_arguments

    args = training_arguments(make_config(tmp_path / "args").train, tmp_path / "out", has_eval=True)
    assert args.load_best_model_at_end is False and args.eval_strategy == "steps"
    config = make_config(tmp_path)
    pipeline.run(config)
    folds = [recorder.trainings[f"fold-{k}"] for k in range(3)]
    fold_rows = np.mean([len(f["train"]) for f in folds])
    final = recorder.trainings["final"]
    n_all = len(final["train"])  # every row, as read (repeated pairs merged)
    assert n_all == sum(len(f["eval"]) for f in folds)
    # max_steps 6 per fold; the final model the same passes over its (larger) data.
    assert final["config"].max_steps == round(6 * n_all / fold_rows) > 6
    card = recorder.published[-1]
    assert "no step chosen on held-out rows" in card["threshold_protocol"]
    assert "3 fold model(s)" in card["threshold_protocol"]
    assert "fold models' passes over the data" in card["training_info"]["final_schedule"]
    assert card["training_info"]["cv"]["steps"] == [6, 6, 6]

    # Configured in epochs, the final model trains those epochs (each fold model did the same).
    epochs = make_config(tmp_path / "epochs", train={"base_model": "unused", "max_length": 32, "epochs": 2})
    (tmp_path / "epochs").mkdir(exist_ok=True)
    pipeline.run(epochs)
    assert recorder.trainings["final"]["config"].max_steps is None
    assert recorder.published[-1]["training_info"]["final_schedule"].startswith(
        f"2 epoch(s) over all {n_all} rows"
    )
